"""End to end: a real ``esper run``, its ``esper resume`` and a real ``esper eval``, each with
the jsonl and mlflow sinks selected.

What MLflow's client reads from the run directory's store must be what ``events.jsonl`` says:
the config of ``run.started`` as params, every number of every ``engine.epoch`` event as a
metric at its epoch and timestamp, the status of ``run.ended``, and for the evaluation the
two tables of ``eval.summary``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from esper.lifecycle import Stage
from mlflow_reader import LoggedRun, Points, read_run, store_uri

from esper_sink_mlflow.sink import flatten

EPOCH_FIELDS = ("val_accuracy", "val_loss", "train_loss", "train_accuracy", "params_total")
SINKS = ("--set", 'telemetry.sinks=["jsonl","mlflow"]')
SMALL = ("--set", "task.train_size=128", "--set", "task.val_size=64", "--quiet")


def esper(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    result = subprocess.run(
        [sys.executable, "-m", "esper", *args],
        cwd=cwd,
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


def expected_metrics(events: list[dict[str, Any]]) -> dict[str, Points]:
    expected: dict[str, Points] = {}

    def add(key: str, step: int, value: float, ts: float) -> None:
        expected.setdefault(key, []).append((step, float(value), int(ts * 1000)))

    for e in events:
        if e["type"] == "governor.rollback":
            add("governor/rollback", e["epoch"], 1.0, e["ts"])
        elif e["type"] == "run.ended":
            add("wall_time_s", 0, e["wall_time_s"], e["ts"])
        if e["type"] != "engine.epoch":
            continue
        arm, step, ts = e["arm"], e["epoch"], e["ts"]
        for field in EPOCH_FIELDS:
            add(f"{arm}/{field}", step, e[field], ts)
        for slot, stage in e["stages"].items():
            add(f"{arm}/slot/{slot}/stage", step, Stage[stage].value, ts)
        for key in ("alpha", "contribution"):
            for slot, value in e[f"{key}s"].items():
                add(f"{arm}/slot/{slot}/{key}", step, value, ts)
    return expected


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    # Three epochs: the heuristic controller germinates a seed at epoch 3 (an alpha appears).
    esper(out, "run", "--epochs", "3", "--out", str(out), *SMALL, *SINKS)
    (path,) = [p for p in out.iterdir() if p.is_dir()]
    return path


@pytest.fixture(scope="module")
def logged(run_dir: Path) -> LoggedRun:
    return read_run(store_uri(run_dir))


def test_every_number_of_every_epoch_is_a_metric(run_dir: Path, logged: LoggedRun) -> None:
    assert logged.metrics() == expected_metrics(events_of(run_dir))
    alphas = [key for key in logged.metrics() if key.endswith("/alpha")]
    assert alphas
    assert all(key.startswith("grown/slot/") for key in alphas)


def test_params_tags_and_status_come_from_the_run(run_dir: Path, logged: LoggedRun) -> None:
    events = events_of(run_dir)
    started = next(e for e in events if e["type"] == "run.started")
    assert logged.params == flatten(started["config"])
    assert logged.artifact("config.json") == started["config"]
    assert logged.run.info.run_name == run_dir.name
    assert logged.run.info.status == "FINISHED"
    assert logged.tags == {
        "esper.run_id": run_dir.name,
        "esper.command": "run",
        "esper.status": "finished",
    }
    log = (run_dir / "log.jsonl").read_text(encoding="utf-8")
    assert "mlflow sink" not in log  # nothing failed


def test_a_resumed_run_goes_on_in_the_same_mlflow_run(run_dir: Path, tmp_path: Path) -> None:
    # A finished run resumed has nothing left to train, but its second session (run.started,
    # run.resumed, run.ended) still lands in the MLflow run of the first. (A copy: the other
    # tests read the run as it was.)
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    esper(tmp_path, "resume", str(copy), "--quiet")
    events = events_of(copy)
    assert [e["command"] for e in events if e["type"] == "run.started"] == ["run", "resume"]
    logged = read_run(store_uri(copy))  # one run
    assert logged.metrics() == expected_metrics(events)
    assert len(logged.metrics()["wall_time_s"]) == 2  # one per session
    assert logged.tags["esper.command"] == "resume"
    assert logged.tags["esper.resumed_at"] == "3"
    assert logged.run.info.status == "FINISHED"


def test_an_evaluation_logs_its_tables(tmp_path: Path) -> None:
    esper(tmp_path, "eval", "--controllers", "static,heuristic", "--seeds", "2",
          "--larger-static", "none", "--workers", "1", "--epochs", "2", "--name", "e",
          "--out", str(tmp_path), "--set", "task.batch_size=64", *SMALL, *SINKS)  # fmt: skip
    eval_dir = tmp_path / "e"
    events = events_of(eval_dir)
    assert [e["type"] for e in events] == ["run.started", "eval.summary", "run.ended"]
    summary = events[1]
    logged = read_run(store_uri(eval_dir))
    for table in ("controllers", "comparisons"):
        assert logged.artifact(f"eval/{table}.json") == {
            "columns": list(summary[table][0]),
            "data": [list(row.values()) for row in summary[table]],
        }
    doc = json.loads((eval_dir / "eval.json").read_text(encoding="utf-8"))
    final = doc["controllers"]["heuristic"]["final"]
    metrics = logged.metrics()
    assert metrics["eval/heuristic/final_mean"] == [(0, final["mean"], int(summary["ts"] * 1000))]
    assert metrics["eval/heuristic - static/final_ties"][0][1] == 2  # same data, no growth yet
    assert logged.params == flatten(events[0]["config"])
    assert logged.run.info.run_name == "e"
    assert logged.tags["esper.command"] == "eval"
    assert logged.run.info.status == "FINISHED"
