"""End to end: a real ``esper run`` with the jsonl and tensorboard sinks selected by name.

Every scalar TensorBoard reads back must equal the matching value in ``events.jsonl`` (to the
32-bit precision TensorBoard stores), at the event's epoch and with the event's timestamp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from esper.lifecycle import Stage
from tb_reader import Points, f32, read_scalars

EPOCH_FIELDS = ("val_accuracy", "val_loss", "train_loss", "train_accuracy", "params_total")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    # Three epochs: the heuristic controller germinates a seed at epoch 3, so an alpha shows up.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "esper",
            "run",
            "--epochs",
            "3",
            "--set",
            "task.train_size=128",
            "--set",
            "task.val_size=64",
            "--set",
            'telemetry.sinks=["jsonl","tensorboard"]',
            "--out",
            str(out),
            "--quiet",
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (path,) = [p for p in out.iterdir() if p.is_dir()]
    return path


@pytest.fixture(scope="module")
def events(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def scalars(run_dir: Path) -> dict[str, Points]:
    return read_scalars(run_dir / "tensorboard")


def expected_points(events: list[dict[str, Any]]) -> dict[str, Points]:
    expected: dict[str, Points] = {}

    def add(tag: str, step: int, value: float, ts: float) -> None:
        expected.setdefault(tag, []).append((step, f32(value), ts))

    for e in events:
        if e["type"] != "engine.epoch":
            continue
        arm, epoch, ts = e["arm"], e["epoch"], e["ts"]
        for field in EPOCH_FIELDS:
            add(f"{arm}/{field}", epoch, e[field], ts)
        for slot, stage in e["stages"].items():
            add(f"{arm}/slot/{slot}/stage", epoch, Stage[stage].value, ts)
        for slot, alpha in e["alphas"].items():
            add(f"{arm}/slot/{slot}/alpha", epoch, alpha, ts)
        for slot, contribution in e["contributions"].items():
            add(f"{arm}/slot/{slot}/contribution", epoch, contribution, ts)
    return expected


def test_every_scalar_equals_its_event(
    events: list[dict[str, Any]], scalars: dict[str, Points]
) -> None:
    expected = expected_points(events)
    assert sorted(scalars) == sorted(expected)
    for tag, points in expected.items():
        assert scalars[tag] == points, tag


def test_both_arms_every_epoch_and_a_seed(scalars: dict[str, Points]) -> None:
    for arm in ("grown", "static"):
        assert [step for step, _, _ in scalars[f"{arm}/val_accuracy"]] == [1, 2, 3]
    # The seed germinated at epoch 3 has an alpha in the grown arm only.
    alphas = [tag for tag in scalars if tag.endswith("/alpha")]
    assert alphas
    assert all(tag.startswith("grown/slot/") for tag in alphas)


def test_event_files_live_in_the_run_dir(run_dir: Path) -> None:
    files = list((run_dir / "tensorboard").iterdir())
    assert len(files) == 1
    assert files[0].name.startswith("events.out.tfevents.")
    log = (run_dir / "log.jsonl").read_text(encoding="utf-8")
    assert "tensorboard sink" not in log  # no write or close failed
