"""What `esper eval` tells the telemetry sinks: the ``eval.summary`` tables, and when."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from esper.config.loading import load_raw
from esper.evaluation.events import (
    COMPARISON_COLUMNS,
    CONTROLLER_COLUMNS,
    EvalSummary,
    summary_event,
)
from esper.evaluation.publish import EvalTelemetry, selected_sinks
from esper.evaluation.summary import summarize
from esper.registry import Registries
from esper.telemetry import event_from_dict, event_to_dict, read_events


def _cell(label: str, seed: int, accuracy: float) -> dict[str, Any]:
    metrics = {"val_accuracy": accuracy, "val_loss": 1.0}
    return {
        "controller": label,
        "seed": seed,
        "task_kind": "classification",
        "final": metrics,
        "best": dict(metrics, val_accuracy=accuracy + 1.0),
        "params": 100 if label == "static" else 150,
        "flops": {"train": 1000, "control": 5 if label != "static" else 0},
        "epochs": 3,
        "wall_time_s": 2.0,
        "seeds": {"germinated": 1, "fossilized": int(label != "static"), "pruned": 0},
        "curve": [{"epoch": e, "val_accuracy": accuracy, "val_loss": 1.0} for e in (1, 2, 3)],
    }


def _document(seeds: int = 3) -> dict[str, Any]:
    cells = {
        (label, seed): _cell(label, seed, base + seed + (0.5 * seed if label == "grower" else 0))
        for label, base in (("static", 40.0), ("grower", 45.0))
        for seed in range(1, seeds + 1)
    }
    header = {"eval_dir": "evals/x", "task": "image", "epochs": 3, "seeds": list(range(1, 4))}
    return summarize(
        cells, controllers=["static", "grower"], baseline="grower", reference=None, header=header
    )


def test_the_tables_are_rows_of_plain_values_with_fixed_columns() -> None:
    doc = _document()
    event = summary_event(doc)
    assert event.type == "eval.summary"
    assert (event.metric, event.higher_is_better, event.epochs) == ("val_accuracy", True, 3)
    assert [tuple(row) for row in event.controllers] == [CONTROLLER_COLUMNS] * 2
    assert [tuple(row) for row in event.comparisons] == [COMPARISON_COLUMNS]
    static, grower = event.controllers
    assert static["controller"] == "static"
    assert grower["final_mean"] == doc["controllers"]["grower"]["final"]["mean"]
    assert grower["best_ci_high"] == doc["controllers"]["grower"]["best"]["ci95"][1]
    assert (grower["params"], grower["flops_control"], grower["seeds_fossilized"]) == (
        150.0,
        5.0,
        1.0,
    )
    (pair,) = event.comparisons
    assert (pair["a"], pair["b"], pair["seeds"]) == ("grower", "static", 3)
    assert pair["final_difference"] == pytest.approx(6.0)  # 5 points and 0.5 per seed
    assert (pair["final_wins"], pair["final_losses"], pair["final_ties"]) == (3, 0, 0)
    assert pair["final_verdict"] == "better"
    # As JSON and back: the same record (what a jsonl reader gets).
    data = json.loads(json.dumps(event_to_dict(event), allow_nan=False))
    assert event_from_dict(data) == event


def test_unknown_figures_are_null() -> None:
    event = summary_event(_document(seeds=1))
    row = event.controllers[0]
    assert row["seeds"] == 1
    assert row["final_ci_low"] is row["final_ci_high"] is row["final_std"] is None
    assert event.comparisons[0]["final_p_value"] is None
    assert event.comparisons[0]["final_verdict"] == "no difference shown"


def test_no_telemetry_table_selects_no_sink(registries: Registries) -> None:
    assert selected_sinks(load_raw((), []), registries) == {}
    chosen = selected_sinks(load_raw((), ['telemetry.sinks=["jsonl"]']), registries)
    assert list(chosen) == ["jsonl"]


def _events(path: Path) -> list[Any]:
    return list(read_events(path))


def test_run_started_and_ended_frame_the_summary(registries: Registries, tmp_path: Path) -> None:
    sinks = selected_sinks(load_raw((), ['telemetry.sinks=["jsonl"]']), registries)
    seen: list[str] = []
    telemetry = EvalTelemetry(sinks, registries, tmp_path, config={"run": {"epochs": 3}})
    telemetry.bus.hook = lambda event: seen.append(event.type)
    with telemetry as bus:
        bus.emit(summary_event(_document()))
    events = _events(tmp_path / "events.jsonl")
    assert [e.type for e in events] == ["run.started", "eval.summary", "run.ended"]
    assert seen == ["run.started", "eval.summary", "run.ended"]
    started, summary, ended = events
    assert started.command == "eval"
    assert started.config == {"run": {"epochs": 3}}
    assert isinstance(summary, EvalSummary)
    assert ended.status == "finished"
    assert len({e.run_id for e in events}) == 1


@pytest.mark.parametrize(
    ("error", "status"), [(KeyboardInterrupt, "interrupted"), (RuntimeError, "crashed")]
)
def test_a_stopped_evaluation_says_so(
    registries: Registries, tmp_path: Path, error: type[BaseException], status: str
) -> None:
    sinks = selected_sinks(load_raw((), ['telemetry.sinks=["jsonl"]']), registries)
    with pytest.raises(error), EvalTelemetry(sinks, registries, tmp_path, config={}):
        raise error
    assert [(e.type, getattr(e, "status", None)) for e in _events(tmp_path / "events.jsonl")] == [
        ("run.started", None),
        ("run.ended", status),
    ]
