"""The training engine: epochs, counterfactuals, actions, mixed precision and exact resume."""

from __future__ import annotations

import pytest
import torch

from esper.contracts.actions import Action, Op, Style
from esper.engine.environment import Environment
from esper.engine.epoch import accuracy_counts, resolve_amp
from esper.errors import EsperError
from esper.lifecycle import GateConfig, QualityGates, Stage
from esper_plugins.policies.config import HeuristicConfig
from esper_plugins.policies.heuristic import HeuristicPolicy

from support.envs import tiny_env
from support.paths import ROOT
from support.tiny import TinyImageTask, TinyLMTask


def test_accuracy_accumulators_have_one_shape_and_dtype_for_every_task_kind() -> None:
    # Review T1-1: the LM branch used a different accumulator shape than classification.
    cls = accuracy_counts(torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))
    lm = accuracy_counts(torch.randn(2, 3, 7), torch.zeros(2, 3, dtype=torch.long))
    assert cls.shape == lm.shape == torch.Size([])
    assert cls.dtype == lm.dtype == torch.int64


def test_static_environment_learns(registries) -> None:
    env = tiny_env(registries)
    first = env.step()
    for _ in range(5):
        last = env.step()
    assert last.val_accuracy > first.val_accuracy
    assert 0.0 <= last.val_accuracy <= 100.0
    assert env.model.parameter_counts().active_seeds == 0


def test_language_model_environment_runs(registries) -> None:
    env = tiny_env(registries, task=TinyLMTask())
    results = [env.step() for _ in range(3)]
    assert all(r.val_loss > 0 for r in results)
    assert results[-1].val_loss < results[0].val_loss + 1.0


def test_actions_grow_a_seed_to_fossilized_with_measured_contribution(registries) -> None:
    env = tiny_env(registries)
    env.model.gates = QualityGates(GateConfig(min_training_epochs=2))
    env.step()
    assert env.apply(
        Action(
            op=Op.GERMINATE, slot="r0c1", blueprint="conv_light", style=Style.LINEAR_ADD, tempo=2
        )
    )
    assert env.apply(Action(op=Op.ADVANCE, slot="r0c1"))
    for _ in range(2):
        env.step()  # measures gradient health while TRAINING
    assert env.apply(Action(op=Op.ADVANCE, slot="r0c1"))  # -> BLENDING
    env.step()
    env.step()  # ramp done
    assert env.apply(Action(op=Op.ADVANCE, slot="r0c1"))  # -> HOLDING
    env.step()  # the fused evaluation measures the seed's contribution
    state = env.model.records["r0c1"].state
    assert state.contribution is not None
    assert env.apply(Action(op=Op.FOSSILIZE, slot="r0c1"))
    assert state.stage is Stage.FOSSILIZED
    assert not env.apply(Action(op=Op.PRUNE, slot="r0c1"))  # refused, not raised


def test_heuristic_policy_grows_and_fossilizes(registries) -> None:
    from esper.growth.catalog import BlueprintCatalog

    task = TinyImageTask()
    catalog = BlueprintCatalog(registries["blueprints"], "cnn")
    policy = HeuristicPolicy(
        HeuristicConfig(
            min_epoch=1,
            plateau_epochs=1,
            wait_for_stabilization=False,
            fossilize_min_contribution=-100.0,
            prune_drop_pp=100.0,
        ),
        catalog=catalog,
    )
    env = tiny_env(registries, task=task, policy=policy, max_epochs=30)
    env.model.gates = QualityGates(GateConfig(min_training_epochs=3))
    ops = [env.step().action.op for _ in range(30)]
    assert Op.GERMINATE in ops
    assert Op.FOSSILIZE in ops
    assert env.model.parameter_counts().fossilized > 0


def test_heuristic_rejects_blueprints_of_another_topology(registries) -> None:
    from esper.errors import ConfigError
    from esper.growth.catalog import BlueprintCatalog

    with pytest.raises(ConfigError, match=r"config\.policy\.blueprints"):
        HeuristicPolicy(
            HeuristicConfig(blueprints=("lora",)),
            catalog=BlueprintCatalog(registries["blueprints"], "cnn"),
        )


def test_resume_from_state_gives_identical_results(registries) -> None:
    def grown_env() -> Environment:
        env = tiny_env(registries, seed=3)
        env.model.gates = QualityGates(GateConfig(min_training_epochs=1))
        return env

    reference = grown_env()
    interrupted = grown_env()
    script = {
        2: Action(op=Op.GERMINATE, slot="r0c0", blueprint="conv_small", tempo=2),
        3: Action(op=Op.ADVANCE, slot="r0c0"),
    }
    for env in (reference, interrupted):
        for epoch in range(1, 5):
            env.step()
            if epoch in script:
                env.apply(script[epoch])
    state = interrupted.state_dict()
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    resumed = grown_env()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for env in (reference, resumed):
        env.apply(Action(op=Op.ADVANCE, slot="r0c0"))
        results = [env.step() for _ in range(4)]
        env.results = results  # type: ignore[attr-defined]
    for a, b in zip(reference.results, resumed.results, strict=True):  # type: ignore[attr-defined]
        assert a.val_loss == b.val_loss
        assert a.train_loss == b.train_loss
        assert a.val_accuracy == b.val_accuracy
    for (n1, p1), (n2, p2) in zip(
        reference.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert n1 == n2
        assert torch.equal(p1, p2), n1


def test_bf16_autocast_trains_on_cpu_without_a_scaler(registries) -> None:
    env = tiny_env(registries, amp="bf16")
    assert env.scaler is None  # bf16 keeps float32's range: no loss scaling (review T2-5)
    result = env.step()
    assert result.val_loss == result.val_loss  # finite, not NaN


def test_amp_resolution() -> None:
    cpu = torch.device("cpu")
    assert resolve_amp("off", cpu) is None
    assert resolve_amp("bf16", cpu) is torch.bfloat16
    assert resolve_amp("auto", cpu) is None
    with pytest.raises(EsperError, match="fp16"):
        resolve_amp("fp16", cpu)


def test_no_deprecated_cuda_amp_anywhere() -> None:
    # Review T2-6: torch.cuda.amp is deprecated; only torch.amp is used.
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("esper", "esper_plugins", "contrib")
        for path in (ROOT / folder).rglob("*.py")
        if "torch.cuda.amp" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_class_count_comes_from_the_task(registries) -> None:
    # Review T2-1: nothing assumes 10 classes.
    env = tiny_env(registries, task=TinyImageTask(classes=7))
    assert env.model.host.head.out_features == 7
    env.step()
