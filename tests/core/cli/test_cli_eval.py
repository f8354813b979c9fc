"""`esper eval` from the command line: worker processes, the cache, the tables, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import esper

SMALL = (
    "--epochs", "2",
    "--set", "task.train_size=128",
    "--set", "task.val_size=32",
    "--set", "task.batch_size=64",
)  # fmt: skip


def test_eval_runs_in_two_workers_writes_eval_json_and_reuses_its_cells(tmp_path: Path) -> None:
    args = ("eval", "--controllers", "static,heuristic", "--seeds", "2", "--workers", "2",
            "--out", str(tmp_path), "--name", "e", *SMALL)  # fmt: skip
    proc = esper(*args)
    assert proc.returncode == 0, proc.stderr
    eval_dir = tmp_path / "e"
    doc = json.loads((eval_dir / "eval.json").read_text())
    assert doc["seeds"] == [900000, 900001]
    assert doc["workers"] == 2
    assert list(doc["controllers"]) == ["static", "heuristic", "larger-static"]
    assert doc["baseline"] == doc["larger_static_reference"] == "heuristic"
    assert {(c["a"], c["b"]) for c in doc["comparisons"]} == {
        ("heuristic", "static"),
        ("larger-static", "static"),
        ("larger-static", "heuristic"),
    }
    plan = json.loads((eval_dir / "plan.json").read_text())
    assert plan["base_config"]["run"]["epochs"] == 2
    assert len(list((eval_dir / "cells").rglob("seed-*.json"))) == 6
    assert "final accuracy" in proc.stdout
    assert "heuristic - static" in proc.stdout
    assert proc.stderr.count("(cached)") == 0
    assert "[6/6]" in proc.stderr
    # The same command again: every cell from the cache, the same table.
    again = esper(*args)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("(cached)") == 6
    assert json.loads((eval_dir / "eval.json").read_text())["controllers"] == doc["controllers"]


def test_eval_default_controllers_are_static_and_the_configured_one(tmp_path: Path) -> None:
    proc = esper("eval", "--seeds", "1", "--larger-static", "none", "--workers", "1",
                 "--out", str(tmp_path), "--quiet", *SMALL)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (eval_json,) = tmp_path.glob("image-*/eval.json")
    doc = json.loads(eval_json.read_text())
    assert list(doc["controllers"]) == ["static", "heuristic"]
    # One seed: no interval to give.
    assert doc["controllers"]["static"]["final"]["ci95"] == [None, None]
    assert "(1 seed)" in proc.stdout


def test_eval_bad_input_exits_2_naming_it(tmp_path: Path) -> None:
    out = ("--out", str(tmp_path), "--seeds", "1", *SMALL)
    cases = {
        ("--controllers", "static,nosuchpolicy"): "nosuchpolicy",
        ("--controllers", "static,heuristic", "--baseline", "gradientx"): "--baseline 'gradientx'",
        ("--controllers", "static,static"): "named more than once",
        ("--controllers", "static", "--workers", "0"): "--workers must be at least 1",
    }
    for args, message in cases.items():
        proc = esper("eval", *args, *out)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("seed-*.json"))  # refused before any training


def test_eval_sends_its_tables_to_the_sinks_its_config_selects(tmp_path: Path) -> None:
    args = ("eval", "--controllers", "static", "--seeds", "1", "--larger-static", "none",
            "--workers", "1", "--out", str(tmp_path), "--quiet", *SMALL)  # fmt: skip
    proc = esper(*args, "--name", "plain")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "plain" / "events.jsonl").exists()  # no [telemetry]: no sink
    proc = esper(*args, "--name", "logged", "--set", 'telemetry.sinks=["jsonl"]')
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "logged" / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["type"] for e in events] == ["run.started", "eval.summary", "run.ended"]
    summary = events[1]
    assert summary["eval_dir"] == str(tmp_path / "logged")
    assert [row["controller"] for row in summary["controllers"]] == ["static"]
    doc = json.loads((tmp_path / "logged" / "eval.json").read_text())
    assert summary["controllers"][0]["final_mean"] == doc["controllers"]["static"]["final"]["mean"]
    assert events[2]["status"] == "finished"
