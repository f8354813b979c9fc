"""eval.json from hand-made cells: rows, paired differences, direction of the metric."""

from __future__ import annotations

import json
from typing import Any

import pytest

from esper.evaluation.summary import summarize, tail_noise


def _cell(
    label: str, seed: int, final: float, best: float, *, kind: str = "classification"
) -> dict[str, Any]:
    metrics = (
        {"val_accuracy": 0.0, "val_loss": 0.0, "val_perplexity": final}
        if kind == "language_model"
        else {"val_accuracy": final, "val_loss": 1.0}
    )
    bests = (
        dict(metrics, val_perplexity=best)
        if kind == "language_model"
        else dict(metrics, val_accuracy=best)
    )
    return {
        "controller": label,
        "seed": seed,
        "task_kind": kind,
        "final": metrics,
        "best": bests,
        "params": 100 if label == "static" else 150,
        "flops": {"train": 1000 * seed, "evaluate": 10, "total": 1000 * seed + 10},
        "epochs": 4,
        "wall_time_s": 2.0,
        "seeds": {"germinated": 1, "fossilized": 1, "pruned": 0},
        "curve": [
            {"epoch": e, "val_accuracy": final + (e % 2), "val_loss": 1.0} for e in range(1, 5)
        ],
    }


def _cells(
    values: dict[str, list[float]], kind: str = "classification"
) -> dict[tuple[str, int], dict[str, Any]]:
    return {
        (label, seed): _cell(label, seed, v, v + 1.0, kind=kind)
        for label, series in values.items()
        for seed, v in enumerate(series, start=1)
    }


def test_rows_and_comparisons_with_static_and_the_baseline() -> None:
    cells = _cells(
        {
            "static": [50.0, 60.0, 55.0],
            "heuristic": [52.0, 61.0, 58.0],
            "gradient": [53.0, 63.0, 58.5],
            "larger-static": [50.0, 59.0, 55.0],
        }
    )
    doc = summarize(
        cells,
        controllers=["static", "heuristic", "gradient"],
        baseline="heuristic",
        reference="heuristic",
        header={"task": "t"},
    )
    json.dumps(doc, allow_nan=False)  # plain JSON
    assert list(doc["controllers"]) == ["static", "heuristic", "gradient", "larger-static"]
    assert doc["metric"] == "val_accuracy"
    assert doc["higher_is_better"]
    heuristic = doc["controllers"]["heuristic"]
    assert heuristic["final"]["mean"] == pytest.approx(57.0)
    assert heuristic["best"]["mean"] == pytest.approx(58.0)
    assert heuristic["per_seed"]["2"] == {
        "final": 61.0,
        "best": 62.0,
        "flops_train": 2000,
        "params": 150,
    }
    pairs = {(c["a"], c["b"]): c for c in doc["comparisons"]}
    # Against static for every other row, against the baseline for the rest (never twice).
    assert set(pairs) == {
        ("heuristic", "static"),
        ("gradient", "static"),
        ("larger-static", "static"),
        ("gradient", "heuristic"),
        ("larger-static", "heuristic"),
    }
    gain = pairs[("heuristic", "static")]["final"]
    assert gain["difference"]["mean"] == pytest.approx(2.0)  # (2 + 1 + 3) / 3
    assert (gain["wins"], gain["losses"]) == (3, 0)
    assert gain["a_better"] is (gain["difference"]["ci95"][0] > 0)
    loss = pairs[("larger-static", "heuristic")]["final"]
    assert loss["difference"]["mean"] == pytest.approx(-7.0 / 3.0)
    # Alternating 0/1 over the last epochs: sample std of (x, x+1, x, x+1) with n - 1.
    assert doc["controllers"]["static"]["tail_noise"]["mean"] == pytest.approx(0.5773502692)


def test_perplexity_lower_is_better() -> None:
    cells = _cells({"static": [3.0, 3.2, 3.1], "grow": [2.5, 2.6, 2.55]}, kind="language_model")
    doc = summarize(
        cells, controllers=["static", "grow"], baseline="grow", reference=None, header={}
    )
    assert doc["metric"] == "val_perplexity"
    assert not doc["higher_is_better"]
    (comparison,) = doc["comparisons"]
    assert comparison["final"]["difference"]["mean"] < 0
    assert comparison["final"]["a_better"]
    assert not comparison["final"]["a_worse"]
    # A win is a seed where a is better, here lower: all three seeds.
    assert (comparison["final"]["wins"], comparison["final"]["losses"]) == (3, 0)


def test_comparisons_use_only_the_seeds_both_ran() -> None:
    cells = _cells({"static": [50.0, 60.0, 55.0], "heuristic": [52.0, 61.0]})
    doc = summarize(
        cells, controllers=["static", "heuristic"], baseline="heuristic", reference=None, header={}
    )
    (comparison,) = doc["comparisons"]
    assert comparison["seeds"] == 2
    assert comparison["final"]["difference"]["mean"] == pytest.approx(1.5)


def test_tail_noise_of_a_short_run_is_unknown() -> None:
    cell = _cell("static", 1, 50.0, 51.0)
    cell["curve"] = cell["curve"][:1]
    assert tail_noise(cell, "val_accuracy") != tail_noise(cell, "val_accuracy")  # NaN
