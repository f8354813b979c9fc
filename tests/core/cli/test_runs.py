"""`esper runs list` and `esper.rundir.scan.scan`: run directories built by hand, and one real run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from esper.errors import EsperError
from esper.rundir.scan import STALE_AFTER_S, RunInfo, scan

from support.cli import ENV, TESTS, esper

RUN_CONFIG = """
[run]
epochs = 5
[task]
name = "esper.tasks.builtin:image"
[policy]
name = "esper.policies.heuristic:heuristic"
"""

TRAIN_CONFIG = """
[run]
epochs = 3
[train]
episodes = 8
envs = 2
[task]
name = "esper.tasks.builtin:image"
[policy]
name = "esper.policies.lstm:lstm"
[agent]
name = "esper.agents.ppo:ppo"
"""


def _event(kind: str, ts: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "schema": 1, "ts": ts, "run_id": "x", "env_id": None, **fields}


def _epochs(accuracies: list[float], start: float = 100.0) -> list[dict[str, Any]]:
    out = []
    for i, acc in enumerate(accuracies, start=1):
        for arm in ("grown", "static"):
            out.append(
                _event("engine.epoch", start + i, epoch=i, arm=arm, val_accuracy=acc, val_loss=1.0)
            )
    return out


def _make(
    root: Path,
    name: str,
    events: list[dict[str, Any]],
    *,
    config: str = RUN_CONFIG,
    summary: dict[str, Any] | None = None,
    files: tuple[str, ...] = (),
) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "config.toml").write_text(config)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    for file in files:
        (run_dir / file).write_bytes(b"not read")
    return run_dir


def _started(command: str = "run", ts: float = 100.0) -> dict[str, Any]:
    return _event("run.started", ts, command=command, config={})


def _ended(status: str, wall: float, ts: float = 200.0) -> dict[str, Any]:
    return _event("run.ended", ts, status=status, wall_time_s=wall)


def _by_id(infos: list[RunInfo]) -> dict[str, RunInfo]:
    return {i.run_id: i for i in infos}


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    _make(
        root,
        "a-finished",
        [_started(), *_epochs([50.0, 70.0, 65.0, 60.0, 61.0]), _ended("finished", 9.5)],
        summary={
            "task_kind": "classification",
            "epochs": 5,
            "wall_time_s": 9.25,
            "grown": {"best_val_accuracy": 70.0, "val_accuracy": 61.0},
        },
        files=("checkpoint.pt",),
    )
    _make(
        root,
        "b-crashed-resumable",
        [_started(), *_epochs([40.0, 45.5]), _ended("crashed", 4.0)],
        files=("checkpoint.pt",),
    )
    _make(root, "c-crashed", [_started(), *_epochs([40.0]), _ended("crashed", 2.0)])
    _make(root, "d-interrupted", [_started(), *_epochs([40.0, 41.0]), _ended("interrupted", 3.0)])
    _make(root, "e-corrupt-config", [_started()], config="[run\nepochs = 5\n")
    (root / "not-a-run").mkdir()  # no run files at all: not listed
    return root


def test_scan_reads_status_progress_and_metrics(runs_dir: Path) -> None:
    infos = scan(runs_dir)
    assert [i.run_id for i in infos] == [
        "a-finished",
        "b-crashed-resumable",
        "c-crashed",
        "d-interrupted",
        "e-corrupt-config",
    ]
    runs = _by_id(infos)

    done = runs["a-finished"]
    assert (done.status, done.command, done.done, done.total, done.unit) == (
        "finished",
        "run",
        5,
        5,
        "epochs",
    )
    assert done.task == "esper.tasks.builtin:image"
    assert done.controller == "esper.policies.heuristic:heuristic"
    assert done.accuracy == 70.0  # best, from the summary
    assert done.wall_time_s == 9.25  # the summary's figure wins over run.ended's

    resumable = runs["b-crashed-resumable"]
    assert (resumable.status, resumable.done, resumable.total) == ("resumable", 2, 5)
    assert resumable.checkpoint == "checkpoint.pt"
    assert resumable.accuracy == 45.5  # best grown epoch so far, from the events
    assert resumable.wall_time_s == 4.0

    assert (runs["c-crashed"].status, runs["c-crashed"].done) == ("crashed", 1)
    assert runs["d-interrupted"].status == "interrupted"

    corrupt = runs["e-corrupt-config"]
    assert corrupt.status.startswith("unreadable (config.toml: ")
    assert corrupt.task is None


def test_unfinished_run_is_running_until_its_log_goes_stale(tmp_path: Path) -> None:
    events = [_started(), *_epochs([30.0, 35.0, 33.0])]
    _make(tmp_path, "fresh", events)
    stale = _make(tmp_path, "stale", events, files=("checkpoint.pt",))
    dead = _make(tmp_path, "dead", events)
    old = time.time() - STALE_AFTER_S - 60
    for run_dir in (stale, dead):
        os.utime(run_dir / "events.jsonl", (old, old))
    runs = _by_id(scan(tmp_path))
    assert runs["fresh"].status == "running?"
    assert runs["stale"].status == "resumable"  # killed outright, but it has a checkpoint
    assert runs["dead"].status == "crashed"
    # An open session's wall time runs from run.started (ts 100) to the last event (ts 103).
    assert runs["fresh"].wall_time_s == pytest.approx(3.0)
    assert runs["fresh"].done == 3


def test_train_runs_count_updates_and_show_the_agent(tmp_path: Path) -> None:
    updates = [
        _event("train.update", 100.0 + u, update=u, mean_accuracy=20.0 + u, mean_reward=0.5 * u)
        for u in range(2)
    ]
    _make(
        tmp_path,
        "t-crashed",
        [_started("train"), *updates, _ended("crashed", 7.0)],
        config=TRAIN_CONFIG,
        files=("policy.pt",),
    )
    _make(
        tmp_path,
        "t-finished",
        [_started("train"), *updates, _ended("finished", 8.0)],
        config=TRAIN_CONFIG,
        summary={
            "command": "train",
            "updates": 4,
            "wall_time_s": 7.5,
            "history": [{"mean_accuracy": 33.0, "mean_reward": 1.25}],
        },
    )
    runs = _by_id(scan(tmp_path))
    crashed = runs["t-crashed"]
    assert (crashed.command, crashed.status, crashed.done, crashed.total, crashed.unit) == (
        "train",
        "resumable",
        2,
        4,
        "updates",
    )
    assert crashed.controller == "esper.policies.lstm:lstm + esper.agents.ppo:ppo"
    assert (crashed.accuracy, crashed.reward) == (21.0, 0.5)
    finished = runs["t-finished"]
    assert (finished.status, finished.done, finished.accuracy, finished.reward) == (
        "finished",
        4,
        33.0,
        1.25,
    )


def test_resumed_run_takes_its_last_session(tmp_path: Path) -> None:
    events = [
        _started("run", 100.0),
        *_epochs([40.0, 42.0]),
        _ended("crashed", 3.0, ts=103.0),
        _started("resume", 150.0),
        *_epochs([44.0, 48.0, 47.0], start=150.0),
        _ended("interrupted", 4.0, ts=160.0),
    ]
    _make(tmp_path, "r", events, files=("checkpoint.pt",))
    (info,) = scan(tmp_path)
    assert (info.command, info.status, info.done, info.accuracy) == ("run", "resumable", 3, 48.0)
    assert info.wall_time_s == 7.0  # both sessions


def test_damaged_event_logs(tmp_path: Path) -> None:
    torn = _make(tmp_path, "torn", [_started(), *_epochs([40.0, 42.0])])
    with (torn / "events.jsonl").open("a") as fh:
        fh.write('{"type": "engine.ep')  # killed mid-write
    _make(tmp_path, "no-start", _epochs([40.0]))
    no_events = _make(tmp_path, "no-events", [])
    (no_events / "events.jsonl").unlink()
    _make(tmp_path, "no-summary", [_started(), _ended("finished", 1.0)])
    bad = _make(tmp_path, "bad-summary", [_started(), _ended("finished", 1.0)])
    (bad / "summary.json").write_text("{")
    runs = _by_id(scan(tmp_path))
    assert (runs["torn"].status, runs["torn"].done) == ("running?", 2)
    assert runs["no-start"].status == "unreadable (events.jsonl has no run.started event)"
    assert runs["no-events"].status == "unreadable (events.jsonl: missing)"
    assert runs["no-summary"].status == "unreadable (finished, but no summary.json)"
    assert runs["bad-summary"].status.startswith("unreadable (summary.json:1: not valid JSON")


def test_language_runs_report_perplexity(tmp_path: Path) -> None:
    _make(
        tmp_path,
        "lm",
        [_started(), *_epochs([30.0]), _ended("finished", 2.0)],
        summary={
            "task_kind": "language_model",
            "epochs": 1,
            "wall_time_s": 2.0,
            "grown": {"best_val_accuracy": 30.0, "val_perplexity": 1.91},
        },
    )
    (info,) = scan(tmp_path)
    assert info.perplexity == 1.91


def test_scan_of_a_run_directory_itself_and_of_nothing(runs_dir: Path, tmp_path: Path) -> None:
    (info,) = scan(runs_dir / "a-finished")
    assert info.run_id == "a-finished"
    assert scan(tmp_path / "runs" / "not-a-run") == []
    with pytest.raises(EsperError, match="no such directory"):
        scan(tmp_path / "missing")


def test_an_evaluation_directory_with_an_event_log_is_no_run(tmp_path: Path) -> None:
    # esper eval with the jsonl sink selected: events.jsonl next to plan.json and eval.json.
    for name in ("plan.json", "eval.json", "events.jsonl"):
        (tmp_path / "evals" / "e" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "evals" / "e" / name).write_text("{}\n")
    assert scan(tmp_path / "evals") == []


def test_cli_plain_text_and_json(runs_dir: Path) -> None:
    proc = esper("runs", "list", str(runs_dir))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "run",
        "id",
        "command",
        "status",
        "task",
        "controller",
        "progress",
        "best",
        "wall",
        "time",
    ]
    assert lines[1].split() == [
        "a-finished",
        "run",
        "finished",
        "image",
        "heuristic",
        "5/5",
        "epochs",
        "acc",
        "70.00%",
        "9.2",
        "s",
    ]
    assert "b-crashed-resumable  run      resumable" in lines[2]
    assert "unreadable (config.toml: " in lines[5]

    as_json = esper("runs", "list", str(runs_dir), "--json")
    data = json.loads(as_json.stdout)
    assert [r["status"] for r in data][:4] == ["finished", "resumable", "crashed", "interrupted"]
    assert data[0]["controller"] == "esper.policies.heuristic:heuristic"

    missing = esper("runs", "list", str(runs_dir / "nope"))
    assert missing.returncode == 2
    assert "no such directory" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_real_run_is_listed_without_importing_torch(tmp_path: Path) -> None:
    proc = esper(
        "run",
        "--epochs",
        "2",
        "--set",
        "task.train_size=64",
        "--set",
        "task.val_size=32",
        "--set",
        "run.static_baseline=false",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    # Progress lines on stderr (not a terminal): one per epoch, with the grown arm's slots.
    epoch_lines = [line for line in proc.stderr.splitlines() if line.startswith("[grown ]")]
    assert [line.split()[3] for line in epoch_lines] == ["1/2", "2/2"]
    assert all("r0c0:" in line for line in epoch_lines)

    listed = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "esper",
            "runs",
            "list",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        cwd=TESTS,
    )
    assert listed.returncode == 0, listed.stderr
    imported = {
        line.split("|")[-1].strip()
        for line in listed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "torch" not in imported
    assert "esper.rundir.scan" in imported
    (info,) = json.loads(listed.stdout)
    summary = json.loads((Path(info["path"]) / "summary.json").read_text())
    assert info["status"] == "finished"
    assert info["command"] == "run"
    assert (info["done"], info["total"]) == (2, 2)
    assert info["accuracy"] == summary["grown"]["best_val_accuracy"]
    assert info["checkpoint"] == "checkpoint.pt"
    assert info["wall_time_s"] == summary["wall_time_s"]
