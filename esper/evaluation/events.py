"""The evaluation's telemetry event, and its tables as rows of plain values (no torch).

``esper eval`` emits ``eval.summary`` once, after ``eval.json`` is written. It carries the two
tables of ``eval.md``, taken from ``eval.json`` but flattened: a list of rows, each a dict with
the same keys (`CONTROLLER_COLUMNS`, `COMPARISON_COLUMNS`) and only strings, numbers, booleans
or null as values, so that a sink hands them to a tracker's table type without knowing how
``eval.json`` nests its estimates. A figure that is unknown (the interval of one seed, a p value
of one pair) is null, as in ``eval.json``.
"""

from __future__ import annotations

from typing import Any

import attrs

from esper.telemetry import Event
from esper.telemetry.events import register_event

#: The columns of a controller's row: its estimates over seeds (means unless named otherwise).
CONTROLLER_COLUMNS = (
    "controller",
    "seeds",
    "final_mean",
    "final_ci_low",
    "final_ci_high",
    "final_std",
    "best_mean",
    "best_ci_low",
    "best_ci_high",
    "tail_noise",
    "params",
    "flops_train",
    "flops_control",
    "epochs",
    "wall_time_s",
    "seeds_fossilized",
)
#: The columns of a paired difference ``a - b``; a verdict is ``better``, ``worse`` or
#: ``no difference shown`` (the interval contains zero).
COMPARISON_COLUMNS = (
    "a",
    "b",
    "seeds",
    "final_difference",
    "final_ci_low",
    "final_ci_high",
    "final_p_value",
    "final_wins",
    "final_losses",
    "final_ties",
    "final_verdict",
    "best_difference",
    "best_ci_low",
    "best_ci_high",
    "best_p_value",
)
#: The controller columns that are a plain mean over seeds, under eval.json's own names.
_MEANS = CONTROLLER_COLUMNS[9:]


@register_event("eval.summary")
@attrs.frozen(kw_only=True)
class EvalSummary(Event):
    """An evaluation finished: its controllers table and its paired-differences table."""

    eval_dir: str
    task: str
    #: ``val_accuracy`` or ``val_perplexity``, and which way is better.
    metric: str
    higher_is_better: bool
    epochs: int
    seeds: list[int] = attrs.field(factory=list)
    baseline: str | None = None
    larger_static_reference: str | None = None
    #: One row per controller (`CONTROLLER_COLUMNS`), in eval.json's order.
    controllers: list[dict[str, Any]] = attrs.field(factory=list)
    #: One row per paired difference (`COMPARISON_COLUMNS`).
    comparisons: list[dict[str, Any]] = attrs.field(factory=list)


def _controller_row(label: str, row: dict[str, Any]) -> dict[str, Any]:
    final, best = row["final"], row["best"]
    return {
        "controller": label,
        "seeds": final["n"],
        "final_mean": final["mean"],
        "final_ci_low": final["ci95"][0],
        "final_ci_high": final["ci95"][1],
        "final_std": final["std"],
        "best_mean": best["mean"],
        "best_ci_low": best["ci95"][0],
        "best_ci_high": best["ci95"][1],
        **{key: row[key]["mean"] for key in _MEANS},
    }


def _verdict(part: dict[str, Any]) -> str:
    if part["a_better"]:
        return "better"
    return "worse" if part["a_worse"] else "no difference shown"


def _comparison_row(comparison: dict[str, Any]) -> dict[str, Any]:
    final, best = comparison["final"], comparison["best"]
    return {
        "a": comparison["a"],
        "b": comparison["b"],
        "seeds": comparison["seeds"],
        "final_difference": final["difference"]["mean"],
        "final_ci_low": final["difference"]["ci95"][0],
        "final_ci_high": final["difference"]["ci95"][1],
        "final_p_value": final["p_value"],
        "final_wins": final["wins"],
        "final_losses": final["losses"],
        "final_ties": final["ties"],
        "final_verdict": _verdict(final),
        "best_difference": best["difference"]["mean"],
        "best_ci_low": best["difference"]["ci95"][0],
        "best_ci_high": best["difference"]["ci95"][1],
        "best_p_value": best["p_value"],
    }


def summary_event(document: dict[str, Any]) -> EvalSummary:
    """The ``eval.summary`` event of an ``eval.json`` document."""
    return EvalSummary(
        eval_dir=str(document["eval_dir"]),
        task=str(document["task"]),
        metric=str(document["metric"]),
        higher_is_better=bool(document["higher_is_better"]),
        epochs=int(document["epochs"]),
        seeds=[int(seed) for seed in document["seeds"]],
        baseline=document.get("baseline"),
        larger_static_reference=document.get("larger_static_reference"),
        controllers=[_controller_row(k, v) for k, v in document["controllers"].items()],
        comparisons=[_comparison_row(c) for c in document["comparisons"]],
    )
