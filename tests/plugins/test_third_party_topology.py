"""A plugin's own topology grows like a built-in one (tests/fixtures/mlp-plugin).

The fixture adds an MLP host whose slots see ``[B, C]`` features, blueprints for it and a
task, using nothing but the public plugin API. Every blend, the fused counterfactual pass,
gradient health, observations, ``esper run`` and ``esper train`` must work on it, and bad
data from its task must be a clear error. The gated blend is also checked on every feature
layout a host may declare.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from esper.contracts.actions import Action, Op, Style
from esper.engine.environment import Environment
from esper.errors import EsperError
from esper.growth.catalog import BlueprintCatalog
from esper.growth.host import InjectionPoint
from esper.growth.seed_module import GatedBlend, SeedModule
from esper.lifecycle import GateConfig, QualityGates, Stage
from esper.lifecycle.alpha import AlphaAlgorithm
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.rl.observation import ObservationBuilder

from support.paths import FIXTURES

FIXTURE = FIXTURES / "mlp-plugin" / "src"
PLUGIN = "esper_mlp_fixture.plugin"
TASK_ID = f"{PLUGIN}:blobs"


@pytest.fixture
def fixture_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURE))


@pytest.fixture
def registries(fixture_on_path: None) -> Registries:
    return Registries(build_manager([PLUGIN], autoload=False))


def _env(registries: Registries, **task_options: Any) -> Environment:
    from esper_mlp_fixture.config import BlobsTaskConfig
    from esper_mlp_fixture.task import BlobsTask

    from esper.contracts.policy import StaticPolicy

    task = BlobsTask(BlobsTaskConfig(**task_options))
    env = Environment(
        task=task,
        registries=registries,
        policy=StaticPolicy(),
        governor=None,
        device=torch.device("cpu"),
        seed=5,
        max_epochs=12,
        batches_per_epoch=4,
    )
    env.model.gates = QualityGates(GateConfig(min_training_epochs=1))
    return env


@pytest.mark.parametrize(
    "style", [Style.LINEAR_ADD, Style.LINEAR_MULTIPLY, Style.GATED_GATE], ids=lambda s: s.name
)
def test_each_blend_grows_a_seed_on_features_of_shape_b_c(
    registries: Registries, style: Style
) -> None:
    env = _env(registries)
    env.step()
    assert env.apply(
        Action(op=Op.GERMINATE, slot="r0c1", blueprint="residual", style=style, tempo=2)
    )
    assert env.apply(Action(op=Op.ADVANCE, slot="r0c1"))  # TRAINING
    env.step()
    assert env.apply(Action(op=Op.ADVANCE, slot="r0c1"))  # BLENDING
    record = env.model.records["r0c1"]
    assert record.state is not None
    assert record.state.stage is Stage.BLENDING
    assert record.module is not None
    assert record.module.algorithm is style.algorithm
    results = [env.step() for _ in range(3)]
    state = record.state
    assert state.alpha == 1.0
    # Fused counterfactual evaluation measured the seed; gradient health was recorded.
    assert set(results[-1].contributions) == {"r0c1"}
    assert all(torch.isfinite(torch.tensor(r.val_loss)) for r in results)
    assert state.gradient_measured
    # The controller's observation covers the slot.
    obs, _ = ObservationBuilder(env.model.catalog.ids, len(env.model.slot_ids))(
        [env.peek_signals()]
    )
    assert torch.isfinite(obs.features).all()


@pytest.mark.parametrize("algorithm", list(AlphaAlgorithm), ids=lambda a: a.name)
def test_fused_evaluation_equals_one_pass_per_configuration(
    registries: Registries, algorithm: AlphaAlgorithm
) -> None:
    env = _env(registries)
    model = env.model
    for slot in ("r0c0", "r0c1"):
        model.germinate(slot, "residual", algorithm=algorithm)
        module = model.records[slot].module
        assert module is not None
        with torch.no_grad():  # a seed that is not the identity, so the blends differ
            for p in module.seed.parameters():
                p.normal_(0.0, 0.3)
        module.stage = Stage.HOLDING
        module.set_alpha(0.7)
    x = env.data.val_x[:32]
    configs: list[dict[str, float]] = [{}, {"r0c0": 0.0}, {"r0c1": 0.0}, {"r0c0": 0.0, "r0c1": 0.0}]
    fused = model.fused_forward(x, configs)
    model.eval()
    for i, config in enumerate(configs):
        with torch.no_grad():
            for sid, module in model.seed_modules():
                module.set_alpha(config.get(sid, 0.7))
            torch.testing.assert_close(fused[i], model(x), rtol=1e-5, atol=1e-6)


LAYOUTS = [
    ((5, 12), 1),
    ((5, 7, 12), -1),
    ((5, 12, 4, 3), 1),
    ((5, 12, 2, 3, 4), 1),
    ((5, 3, 12, 4), 2),
]


@pytest.mark.parametrize(("shape", "channel_dim"), LAYOUTS, ids=[str(s) for s, _ in LAYOUTS])
def test_the_gate_pools_every_layout_to_one_value_per_sample(
    shape: tuple[int, ...], channel_dim: int
) -> None:
    torch.manual_seed(0)
    gate = GatedBlend(12, channel_dim)
    x = torch.randn(shape)
    g = gate(x)
    assert g.shape == (shape[0],) + (1,) * (len(shape) - 1)
    assert ((g >= 0) & (g <= 1)).all()
    # The gate sees the per-sample mean of each feature: moving features to the last
    # dimension and averaging the rest gives the same gate.
    channel = channel_dim % len(shape)
    pooled = x.movedim(channel, -1).reshape(shape[0], -1, 12).mean(dim=1)
    expected = torch.sigmoid(gate.fc2(torch.relu(gate.fc1(pooled))))
    torch.testing.assert_close(g.reshape(-1), expected.reshape(-1))
    # And a whole seed module blends with it on that layout.
    point = InjectionPoint(
        slot_id="r0c0",
        channels=12,
        surface="block_end",
        order=0,
        probe_shape=shape,
        channel_dim=channel_dim,
    )
    module = SeedModule(torch.nn.Identity(), 12, AlphaAlgorithm.GATE, channel_dim=point.channel_dim)
    module.stage = Stage.BLENDING
    module.set_alpha(0.5)
    assert module(x).shape == x.shape


def test_an_injection_point_checks_its_layout() -> None:
    common: dict[str, Any] = {"slot_id": "r0c0", "surface": "mlp", "order": 0}
    assert InjectionPoint(channels=8, **common).probe_shape == (2, 8)
    with pytest.raises(ValueError, match="channels is 6"):
        InjectionPoint(channels=6, probe_shape=(2, 8, 4, 4), **common)
    with pytest.raises(ValueError, match="not a non-batch dimension"):
        InjectionPoint(channels=2, probe_shape=(2, 8), channel_dim=0, **common)
    with pytest.raises(ValueError, match="needs 4-D features"):
        InjectionPoint(channels=8, memory_format="channels_last", **common)


# -- the CLI, as a user of the plugin runs it ------------------------------------------------------


@pytest.fixture
def blobs(esper_cli: Any, fixture_on_path: None, tmp_path: Path) -> Any:
    """``esper --plugin <fixture> COMMAND --task blobs ARGS --out tmp --quiet``."""

    def invoke(command: str, *args: str) -> Any:
        return esper_cli(
            "--plugin", PLUGIN, command, "--task", "blobs", *args, "--out", str(tmp_path), "--quiet"
        )

    return invoke


def test_esper_run_grows_the_mlp_host(blobs: Any, tmp_path: Path) -> None:
    result = blobs("run", "--epochs", "12")
    assert result.exit_code == 0, result.output
    [run_dir] = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == TASK_ID
    assert summary["grown"]["seeds"]["germinated"] >= 1


def test_esper_train_plays_episodes_on_the_mlp_host(blobs: Any, tmp_path: Path) -> None:
    result = blobs("train", "--episodes", "2", "--envs", "2")
    assert result.exit_code == 0, result.output
    [run_dir] = tmp_path.iterdir()
    assert (run_dir / "policy.pt").is_file()


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        ("label", r"val_y\[7\] holds target 4, outside \[0, 4\)"),
        ("non_finite", r"train_x\[11\] holds NaN or inf"),
        ("length", r"train_x has 512 samples but train_y has 511"),
    ],
)
def test_bad_task_data_exits_2_naming_the_task(blobs: Any, defect: str, message: str) -> None:
    result = blobs("run", "--set", f"task.defect={defect}", "--epochs", "2")
    assert result.exit_code == 2
    assert f"task {TASK_ID!r}" in result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.output


def test_bad_task_data_is_refused_by_esper_train_too(blobs: Any) -> None:
    result = blobs("train", "--set", "task.defect=label", "--episodes", "1", "--envs", "1")
    assert result.exit_code == 2
    assert f"task {TASK_ID!r}" in result.stderr


def test_an_environment_refuses_bad_data_from_the_task_it_loads(registries: Registries) -> None:
    with pytest.raises(EsperError, match=r"task 'BlobsTask': val_y\[7\]"):
        _env(registries, defect="label")


def test_catalogue_of_the_new_topology(registries: Registries) -> None:
    catalog = BlueprintCatalog(registries["blueprints"], "mlp")
    assert sorted(catalog.names) == ["residual", "scale"]
