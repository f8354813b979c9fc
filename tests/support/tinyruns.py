"""Tiny ``esper run`` / ``esper train`` settings and helpers for the reliability tests.

The settings finish in seconds on a CPU. ``esper run`` with them germinates a seed early
(short gates, a controller that acts at once), so its checkpoints hold a grown model.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from click.testing import CliRunner, Result

from support.paths import TESTS

FAULTY_ESPER = Path(__file__).parent / "faulty_esper.py"

GROWTH_EPOCHS = 6
GROWTH = [
    "run",
    "--epochs",
    str(GROWTH_EPOCHS),
    "--seed",
    "5",
    "--quiet",
    "--set",
    "task.train_size=384",
    "--set",
    "task.val_size=128",
    "--set",
    "run.checkpoint_every=2",
    "--set",
    "lifecycle.min_training_epochs=1",
    "--set",
    "policy.min_epoch=1",
    "--set",
    "policy.plateau_epochs=1",
    "--set",
    "policy.wait_for_stabilization=false",
]

TRAIN_UPDATES = 4
TRAIN = [
    "train",
    "--episodes",
    str(2 * TRAIN_UPDATES),
    "--envs",
    "2",
    "--epochs",
    "3",
    "--seed",
    "3",
    "--quiet",
    "--set",
    "task.train_size=200",
    "--set",
    "task.val_size=100",
    "--set",
    "policy.hidden_dim=16",
    "--set",
    "policy.feature_dim=16",
]

#: One intra-op thread: float reductions then have one order whatever the machine's load,
#: so a resumed run can be compared bit for bit with an uninterrupted one.
SUBPROCESS_ENV = {
    **os.environ,
    "ESPER_DISABLE_PLUGIN_AUTOLOAD": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]),
}


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run in-process esper commands with one intra-op thread (see `SUBPROCESS_ENV`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def invoke(*args: str) -> Result:
    """The esper CLI in this process; an exception that is not an `EsperError` propagates."""
    from esper.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def spawn(args: Sequence[str], *, faults: dict[str, Any] | None = None) -> subprocess.Popen[str]:
    """``python -m esper ARGS`` (or with ``faults`` installed first) in a child process."""
    if faults is None:
        command = [sys.executable, "-m", "esper", *args]
    else:
        command = [sys.executable, str(FAULTY_ESPER), json.dumps(faults), "--", *args]
    return subprocess.Popen(
        command,
        cwd=TESTS,
        env=SUBPROCESS_ENV,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    """Wait for ``process``; its exit status, stdout and stderr."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def results(run_dir: Path) -> dict[str, Any]:
    """The run's summary.json without what legitimately differs (ids, wall times)."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    summary.pop("run_id", None)
    summary.pop("wall_time_s", None)
    # Rates per hour of wall time (esper train's curriculum).
    summary.pop("decisions_per_hour", None)
    for record in summary.get("history", []):
        record.pop("wall_time_s", None)
    if isinstance(summary.get("imitation"), dict):
        summary["imitation"].pop("wall_time_s", None)
    return dict(summary)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the final checkpoint's trained state, by a flat key."""
    name = "checkpoint.pt" if (run_dir / "checkpoint.pt").exists() else "policy.pt"
    state = torch.load(run_dir / name, map_location="cpu", weights_only=True)
    if name == "policy.pt":
        return dict(state["network"])
    flat: dict[str, torch.Tensor] = {}
    for arm, arm_state in state["arms"].items():
        for key, tensor in arm_state["model"]["weights"].items():
            flat[f"{arm}.{key}"] = tensor
    return flat


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key, tensor in wa.items():
        assert torch.equal(tensor, wb[key]), key


def assert_same_results(a: dict[str, Any], b: dict[str, Any], path: str = "summary") -> None:
    """Equal summaries; floats to 1e-6 (an evaluation kernel may round differently in a new
    process), everything else exactly."""
    import pytest

    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same_results(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_results(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-6, nan_ok=True), path
    else:
        assert a == b, path
