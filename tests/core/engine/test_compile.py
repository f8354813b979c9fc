"""``--compile``: compiled hosts, seeds and policies compute what eager ones do, in few graphs.

Most tests compile with dynamo's ``eager`` backend: it traces and guards exactly as inductor
does (so graph counts and guard behaviour are the real ones) but runs the captured graph with
the ordinary kernels, so results can be compared bit for bit and nothing waits for a C++
compiler. One slow test runs inductor end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from esper.config import CompileSection
from esper.engine.compilation import CompileWatch, graphs_compiled, is_compiled
from esper.engine.environment import Environment
from esper.growth.catalog import BlueprintCatalog
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import GateConfig, QualityGates, Stage
from esper.registry import Registries
from esper_plugins.policies.config import HeuristicConfig
from esper_plugins.policies.heuristic import HeuristicPolicy

from support.cli import esper
from support.envs import tiny_env
from support.tiny import TinyImageTask

EAGER = CompileSection(enabled=True, backend="eager")


@pytest.fixture(autouse=True)
def fresh_compiler() -> None:
    torch._dynamo.reset()


def _cnn_model(registries: Registries) -> tuple[MorphogeneticModel, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    host = registries["hosts"].get("cnn").build(None, num_classes=10)
    model = MorphogeneticModel(host, BlueprintCatalog(registries["blueprints"], "cnn"))
    x = torch.randn(32, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (32,))
    return model, x, y


def _train_step(model: MorphogeneticModel, x: torch.Tensor, y: torch.Tensor) -> None:
    torch._dynamo.maybe_mark_dynamic(x, 0)
    nn.functional.cross_entropy(model(x), y).backward()
    model.gradient_report()
    model.zero_grad(set_to_none=True)
    model.record_accuracy(50.0)


def _walk_lifecycle(
    model: MorphogeneticModel, x: torch.Tensor, y: torch.Tensor, algorithm: str, check
) -> None:
    """Dormant -> TRAINING -> BLENDING (alpha ramp) -> HOLDING -> FOSSILIZED, checking each."""
    slot = "r0c1"
    # The gates are not under test: random data gives a multiply seed middling gradients.
    model.gates = QualityGates(GateConfig(min_gradient_health=0.0))
    check("dormant")
    model.germinate(slot, "conv_light", tempo=3, algorithm=algorithm)
    check("germinated")
    model.advance(slot)
    for _ in range(10):
        _train_step(model, x, y)
    check("training")
    gate = model.advance(slot)
    if not gate.passed:
        raise AssertionError(f"the gate into BLENDING did not pass: {gate}")
    for _ in range(3):
        model.step_epoch()
        _train_step(model, x, y)
        check("blending")
    if not model.advance(slot).passed:
        raise AssertionError("the gate into HOLDING did not pass")
    check("holding")
    state = model.records[slot].state
    state.record_contribution(1.0)
    if not model.fossilize(slot).passed:
        raise AssertionError("fossilize was refused")
    assert state.stage is Stage.FOSSILIZED
    _train_step(model, x, y)
    check("fossilized")


@pytest.mark.parametrize("algorithm", ["add", "multiply", "gate"])
def test_compiled_forward_matches_eager_at_every_stage(registries, algorithm: str) -> None:
    # Regression: torch 2.13's dynamo lost the guard on SeedModule.stage (an enum) after the
    # first recompile, so the compiled host kept the TRAINING graph while the seed blended.
    model, x, y = _cnn_model(registries)
    model.compile(backend="eager")
    seen: list[str] = []

    def check(stage: str) -> None:
        for grad in (False, True):
            with torch.set_grad_enabled(grad):
                compiled, eager = model(x), model.forward(x)
            assert torch.equal(compiled, eager), f"{algorithm}: {stage}, grad={grad}"
        seen.append(stage)

    _walk_lifecycle(model, x, y, algorithm, check)
    assert seen[-1] == "fossilized"
    assert seen.count("blending") == 3


def test_a_lifecycle_costs_four_graphs_and_a_second_model_none(registries) -> None:
    first, x, y = _cnn_model(registries)
    second, _, _ = _cnn_model(registries)
    for model in (first, second):
        model.compile(backend="eager")
    watch = CompileWatch(EAGER)

    def train(stage: str) -> None:
        _train_step(first, x, y)
        # A shorter last batch reuses the graph (down to 16 rows: below that torch's
        # convolution picks another kernel and guards on it).
        _train_step(first, x[:20], y[:20])

    _walk_lifecycle(first, x, y, "add", train)
    watch.poll()
    # dormant, TRAINING (straight-through), BLENDING/HOLDING (alpha is a buffer: the ramp
    # is free), FOSSILIZED (no isolation). GERMINATED runs the dormant graph's code path
    # but the slot now holds a module, so it compiles once too.
    assert watch.total == 5
    _walk_lifecycle(second, x, y, "add", lambda stage: _train_step(second, x, y))
    assert watch.poll() == 0, "a second model of the same structure must reuse the graphs"


def _heuristic_env(registries: Registries, compile: CompileSection | None) -> Environment:
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
    return tiny_env(
        registries,
        task=task,
        policy=policy,
        seed=3,
        max_epochs=24,
        compile=compile,
        min_training_epochs=3,
    )


def test_a_compiled_growth_run_is_bit_identical_to_an_eager_one(registries) -> None:
    eager = _heuristic_env(registries, None)
    compiled = _heuristic_env(registries, EAGER)
    assert is_compiled(compiled.model)
    assert not is_compiled(eager.model)
    start = graphs_compiled()
    ops = []
    for _ in range(24):
        a, b = eager.step(), compiled.step()
        ops.append(a.action.op.name)
        assert b.action == a.action
        assert (b.train_loss, b.val_loss, b.val_accuracy) == (
            a.train_loss,
            a.val_loss,
            a.val_accuracy,
        )
    assert "GERMINATE" in ops, ops
    assert "FOSSILIZE" in ops, ops
    transitions = sum(op in ("GERMINATE", "ADVANCE", "FOSSILIZE", "PRUNE") for op in ops)
    # One graph per distinct slot configuration: never more than one per transition.
    assert 1 <= graphs_compiled() - start <= 1 + transitions


def test_esper_run_compile_reports_its_graphs(tmp_path: Path) -> None:
    proc = esper(
        "run",
        "--compile",
        "--set",
        'compile.backend="eager"',
        "--epochs",
        "2",
        "--set",
        "run.batches_per_epoch=2",
        "--set",
        "task.train_size=256",
        "--set",
        "task.val_size=64",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = next(tmp_path.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["compile"]["enabled"]
    assert summary["compile"]["backend"] == "eager"
    # Both arms share the dormant host's graph.
    assert summary["compile"]["graphs"] == 1
    assert not summary["compile"]["limit_reached"]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    compiled = [e for e in events if e["type"] == "engine.compile"]
    assert [(e["at"], e["new"], e["total"], e["limit"]) for e in compiled] == [(1, 1, 1, 64)]
    config = (run_dir / "config.toml").read_text()
    assert "[compile]" in config
    assert "enabled = true" in config


def test_esper_train_compiles_the_policy_network(tmp_path: Path) -> None:
    proc = esper(
        "train",
        "--compile",
        "--set",
        'compile.backend="eager"',
        "--episodes",
        "2",
        "--envs",
        "2",
        "--epochs",
        "2",
        "--set",
        "run.batches_per_epoch=1",
        "--set",
        "task.train_size=128",
        "--set",
        "task.val_size=64",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    # Host graph, and the policy network's acting and learning graphs.
    assert summary["compile"]["graphs"] >= 3
    assert summary["updates"] == 1


def test_compile_options_are_validated(tmp_path: Path) -> None:
    proc = esper("run", "--set", 'compile.mode="fastest"', "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "config.compile.mode" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = esper("run", "--set", "compile.limit=0", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "config.compile.limit" in proc.stderr


@pytest.mark.slow
def test_inductor_compiles_a_growth_run(tmp_path: Path) -> None:
    proc = esper(
        "run",
        "--compile",
        "--epochs",
        "2",
        "--set",
        "run.batches_per_epoch=2",
        "--set",
        "task.train_size=256",
        "--set",
        "task.val_size=64",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert summary["compile"]["backend"] == "inductor"
    assert summary["compile"]["graphs"] == 1
