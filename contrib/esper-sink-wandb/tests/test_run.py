"""End to end: a real ``esper run`` and a real ``esper eval`` with the jsonl and wandb sinks.

What wandb's reader finds in the offline run must be what ``events.jsonl`` says: the config of
``run.started``, one history row per epoch with every number of its ``engine.epoch`` event,
the status of ``run.ended``, and for the evaluation the two tables of ``eval.summary``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from esper.lifecycle import Stage
from wandb_reader import OfflineRun, read_run

EPOCH_FIELDS = ("val_accuracy", "val_loss", "train_loss", "train_accuracy", "params_total")
SINKS = ("--set", 'telemetry.sinks=["jsonl","wandb"]')
SMALL = ("--set", "task.train_size=128", "--set", "task.val_size=64", "--quiet")


def esper(out: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    result = subprocess.run(
        [sys.executable, "-m", "esper", *args, "--out", str(out), *SMALL, *SINKS],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def events_of(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def without_empty_tables(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as W&B keeps it: a table with nothing in it (``task.host = {}``) is gone."""
    kept = {}
    for key, value in config.items():
        if isinstance(value, dict):
            value = without_empty_tables(value)
            if not value:
                continue
        kept[key] = value
    return kept


def as_wandb(value: float) -> float | str:
    return "NaN" if math.isnan(value) else value


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    # Three epochs: the heuristic controller germinates a seed at epoch 3 (an alpha appears).
    esper(out, "run", "--epochs", "3")
    (path,) = [p for p in out.iterdir() if p.is_dir()]
    return path


@pytest.fixture(scope="module")
def run(run_dir: Path) -> OfflineRun:
    return read_run(run_dir)


def expected_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in events:
        if e["type"] == "governor.rollback":
            rows.append({"governor/epoch": e["epoch"], "governor/rollback": 1})
        if e["type"] != "engine.epoch":
            continue
        arm = e["arm"]
        row: dict[str, Any] = {f"{arm}/epoch": e["epoch"]}
        row.update({f"{arm}/{field}": as_wandb(e[field]) for field in EPOCH_FIELDS})
        row.update({f"{arm}/slot/{s}/stage": Stage[n].value for s, n in e["stages"].items()})
        row.update({f"{arm}/slot/{s}/alpha": a for s, a in e["alphas"].items()})
        row.update({f"{arm}/slot/{s}/contribution": c for s, c in e["contributions"].items()})
        rows.append(row)
    return rows


def test_every_epoch_is_a_row_with_its_events_numbers(run_dir: Path, run: OfflineRun) -> None:
    events = events_of(run_dir)
    assert run.history() == expected_rows(events)
    for arm in ("grown", "static"):
        assert [step for step, _ in run.series(f"{arm}/val_accuracy", f"{arm}/epoch")] == [1, 2, 3]
    alphas = {key for row in run.history() for key in row if key.endswith("/alpha")}
    assert alphas
    assert all(key.startswith("grown/slot/") for key in alphas)


def test_config_name_and_status_come_from_the_run(run_dir: Path, run: OfflineRun) -> None:
    events = events_of(run_dir)
    started = next(e for e in events if e["type"] == "run.started")
    ended = next(e for e in events if e["type"] == "run.ended")
    esper_section = {"command": "run", "run_id": run_dir.name}
    expected = without_empty_tables({**started["config"], "esper": esper_section})
    assert run.state["config"] == expected
    assert run.state["name"] == run_dir.name
    assert run.state["state"] == "finished"
    assert run.state["summary"]["status"] == ended["status"] == "finished"
    assert run.state["summary"]["wall_time_s"] == ended["wall_time_s"]
    log = (run_dir / "log.jsonl").read_text(encoding="utf-8")
    assert "wandb sink" not in log  # nothing failed


def test_an_evaluation_logs_its_tables(tmp_path: Path) -> None:
    esper(tmp_path, "eval", "--controllers", "static,heuristic", "--seeds", "2",
          "--larger-static", "none", "--workers", "1", "--epochs", "2", "--name", "e",
          "--set", "task.batch_size=64")  # fmt: skip
    eval_dir = tmp_path / "e"
    events = events_of(eval_dir)
    assert [e["type"] for e in events] == ["run.started", "eval.summary", "run.ended"]
    summary = events[1]
    run = read_run(eval_dir)
    for table in ("controllers", "comparisons"):
        logged = run.table(f"eval/{table}")
        assert logged["columns"] == list(summary[table][0])
        assert logged["data"] == [list(row.values()) for row in summary[table]]
    doc = json.loads((eval_dir / "eval.json").read_text(encoding="utf-8"))
    final = doc["controllers"]["heuristic"]["final"]
    assert run.state["summary"]["eval/heuristic/final_mean"] == final["mean"]
    assert run.state["summary"]["eval/heuristic/final_ci_high"] == final["ci95"][1]
    assert run.state["summary"]["eval/metric"] == "val_accuracy"
    assert run.state["name"] == "e"
    assert run.state["config"]["esper"]["command"] == "eval"
    assert run.state["config"]["run"]["epochs"] == 2
    assert run.state["state"] == "finished"
