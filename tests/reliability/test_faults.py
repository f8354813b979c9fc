"""Faults during a run: NaN and loss spikes roll the host back; a killed run resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest
import torch

import esper.engine.environment
from esper.contracts.actions import Action, Op
from esper.engine.environment import Environment
from esper.engine.epoch import read_evaluation
from esper.lifecycle import Stage
from esper.registry import Registries
from esper_plugins.governors.default import DefaultGovernor

from support.envs import tiny_env
from support.paths import TESTS


def governed_env(registries: Registries, events: list) -> Environment:
    return tiny_env(
        registries,
        governor=lambda info: DefaultGovernor(task=info, emit=events.append),
        max_epochs=50,
        emit=events.append,
        min_training_epochs=1,
    )


def host_tensors(env: Environment) -> dict[str, torch.Tensor]:
    return {
        k: v.clone() for k, v in env.model.host.state_dict().items() if not k.startswith("slots.")
    }


def test_nan_triggers_rollback_with_bit_identical_weights_and_the_run_goes_on(registries) -> None:
    events: list = []
    env = governed_env(registries, events)
    for _ in range(5):
        env.step()  # epoch 5 takes a snapshot (the default cadence)
    snapshot = host_tensors(env)
    env.apply(Action(op=Op.GERMINATE, slot="r0c1", blueprint="conv_light"))
    env.apply(Action(op=Op.ADVANCE, slot="r0c1"))
    with torch.no_grad():
        env.model.host.head.weight.fill_(float("nan"))  # poison: the next loss is NaN
    result = env.step()
    assert result.rolled_back
    restored = host_tensors(env)
    assert restored.keys() == snapshot.keys()
    for key in snapshot:
        assert torch.equal(restored[key], snapshot[key]), key
    assert env.model.records["r0c1"].state.stage is Stage.EMBARGOED  # pruned by the governor
    rollbacks = [e for e in events if e.type == "governor.rollback"]
    assert [r.reason for r in rollbacks] == ["governor_nan"]
    assert rollbacks[0].seeds_pruned == ["r0c1"]
    following = env.step()
    assert following.val_loss == following.val_loss  # finite again: the run continues
    assert not following.rolled_back


def test_repeated_loss_spikes_trigger_one_rollback_and_are_survived(
    registries, monkeypatch
) -> None:
    events: list = []
    env = governed_env(registries, events)
    for _ in range(10):
        env.step()  # enough history for the divergence detector; epoch 10 takes a snapshot
    snapshot = host_tensors(env)
    env.step()
    env.step()
    spikes = iter([40.0, 45.0, 50.0])

    def spiking_read(values, ablate):
        figures = read_evaluation(values, ablate)
        return attrs.evolve(figures, val_loss=next(spikes, figures.val_loss))

    monkeypatch.setattr(esper.engine.environment, "read_evaluation", spiking_read)
    results = [env.step() for _ in range(3)]
    assert [r.rolled_back for r in results] == [False, False, True]
    restored = host_tensors(env)
    for key in snapshot:
        assert torch.equal(restored[key], snapshot[key]), key  # epoch 10, bit for bit
    panics = [e.reason for e in events if e.type == "governor.panic"]
    assert panics == ["governor_divergence"]
    following = env.step()  # and the run goes on from there
    assert not following.rolled_back
    assert following.val_loss < 40.0


@pytest.mark.parametrize("kill_after_checkpoint", [2])
def test_sigkill_then_resume_ends_with_identical_final_metrics(
    tmp_path: Path, kill_after_checkpoint: int
) -> None:
    args = [
        "--set",
        "task.train_size=512",
        "--set",
        "task.val_size=256",
        "--set",
        "run.checkpoint_every=1",
        "--set",
        "lifecycle.min_training_epochs=1",
        "--set",
        "policy.min_epoch=1",
        "--set",
        "policy.plateau_epochs=1",
        "--set",
        "policy.wait_for_stabilization=false",
        "--epochs",
        "7",
        "--seed",
        "5",
        "--quiet",
    ]
    # One intra-op thread: float reductions then have one fixed order whatever the load on the
    # machine, so "identical" can mean bit-identical.
    env = {**os.environ, "ESPER_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}

    def esper(*extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "esper", "run", *args, *extra],
            cwd=TESTS,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    reference = esper("--out", str(tmp_path / "ref"))
    assert reference.wait(timeout=600) == 0, reference.stderr.read() if reference.stderr else ""
    killed = esper("--out", str(tmp_path / "killed"))
    deadline = time.time() + 600
    run_dir: Path | None = None
    while time.time() < deadline:
        dirs = list((tmp_path / "killed").glob("*"))
        if dirs and (dirs[0] / "checkpoint.pt").exists():
            run_dir = dirs[0]
            events = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
            epochs = [json.loads(line) for line in events if '"type":"engine.epoch"' in line]
            if len([e for e in epochs if e["arm"] == "grown"]) >= kill_after_checkpoint + 1:
                break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert run_dir is not None
    assert not (run_dir / "summary.json").exists()  # it really died mid-run
    resumed = subprocess.run(
        [sys.executable, "-m", "esper", "resume", str(run_dir), "--quiet"],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    ref_dir = next((tmp_path / "ref").glob("*"))
    ref_summary = json.loads((ref_dir / "summary.json").read_text())
    res_summary = json.loads((run_dir / "summary.json").read_text())
    for arm in ("grown", "static"):
        for key in (
            "val_accuracy",
            "best_val_accuracy",
            "params",
            "seeds",
            "rollbacks",
            "growth_ratio",
        ):
            assert res_summary[arm][key] == ref_summary[arm][key], (arm, key)
        # Evaluation kernels may pick a different vectorised path for differently aligned
        # buffers in a fresh process, which moves a loss by an ulp or two; the training state
        # itself is bit-identical (checked on the weights below).
        assert res_summary[arm]["val_loss"] == pytest.approx(ref_summary[arm]["val_loss"], rel=1e-6)
    ref_state = torch.load(ref_dir / "checkpoint.pt", weights_only=True)
    res_state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    for arm in ("grown", "static"):
        ref_weights = ref_state["arms"][arm]["model"]["weights"]
        res_weights = res_state["arms"][arm]["model"]["weights"]
        assert ref_weights.keys() == res_weights.keys()
        for key, tensor in ref_weights.items():
            assert torch.equal(tensor, res_weights[key]), (arm, key)
        ref_slots = ref_state["arms"][arm]["model"]["slots"]
        res_slots = res_state["arms"][arm]["model"]["slots"]
        assert {k: v["state"]["stage"] for k, v in ref_slots.items()} == {
            k: v["state"]["stage"] for k, v in res_slots.items()
        }
    train_losses = {
        d: [
            (e["arm"], e["epoch"], e["train_loss"])
            for e in map(json.loads, (d / "events.jsonl").read_text().splitlines())
            if e["type"] == "engine.epoch"
        ]
        for d in (ref_dir, run_dir)
    }
    # The resumed log repeats the epochs after the checkpoint; the last record of each wins.
    assert dict(((a, e), v) for a, e, v in train_losses[run_dir]) == dict(
        ((a, e), v) for a, e, v in train_losses[ref_dir]
    )
