"""`esper run` / `esper resume` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from esper.cli.main import _hoist_plugin_options

from support.cli import esper


def test_plugin_option_after_the_subcommand_is_hoisted() -> None:
    assert _hoist_plugin_options(["run", "--plugin", "a", "--epochs", "2", "--plugin=b"]) == [
        "--plugin",
        "a",
        "--plugin=b",
        "run",
        "--epochs",
        "2",
    ]
    assert _hoist_plugin_options(["run", "--", "--plugin", "x"]) == ["run", "--", "--plugin", "x"]


def test_run_with_the_transformer_plugin_grows_on_the_language_task(tmp_path: Path) -> None:
    proc = esper(
        "run",
        "--plugin",
        "esper.blueprints.transformer",
        "--epochs",
        "2",
        "--set",
        "task.train_windows=64",
        "--set",
        "task.val_windows=16",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert summary["task"] == "esper.tasks.builtin:stories"
    assert summary["task_kind"] == "language_model"
    for arm in ("static", "grown"):
        assert summary[arm]["val_perplexity"] > 1.0
    assert "val perplexity" in proc.stdout


def test_run_static_and_summary_fields(tmp_path: Path) -> None:
    proc = esper(
        "run",
        "--static",
        "--epochs",
        "1",
        "--set",
        "task.train_size=64",
        "--set",
        "task.val_size=32",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = next(tmp_path.glob("*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "static" not in summary  # --static trains the baseline alone
    assert summary["policy"] == "esper.policies.heuristic:static"
    assert summary["grown"]["growth_ratio"] == 1.0
    # Training FLOPs per arm: one epoch of 64 samples trained and 32 evaluated.
    flops = summary["grown"]["flops"]
    assert flops["train"] > flops["evaluate"] > 0
    assert flops["train"] % 64 == 0
    assert flops["evaluate"] % 32 == 0
    assert flops["total"] == flops["train"] + flops["evaluate"]
    assert {p.name for p in run_dir.iterdir()} >= {
        "config.toml",
        "events.jsonl",
        "checkpoint.pt",
        "summary.json",
    }


def test_bad_run_options_exit_2_without_traceback(tmp_path: Path) -> None:
    proc = esper("run", "--task", "imgae", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "config.task.name: unknown task 'imgae'. Did you mean: image" in proc.stderr
    assert "Traceback" not in proc.stderr
    missing = esper("resume", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "not a run directory" in missing.stderr
