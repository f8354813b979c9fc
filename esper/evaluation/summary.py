"""From cells to ``eval.json``: per controller estimates over seeds, and paired differences.

The metric is validation accuracy (percent, higher is better) for classification tasks and
validation perplexity (lower is better) for language models, each *final* (the last epoch)
and *best* (best over the epochs, an optimistic figure: it picks the epoch after seeing the
validation set). Every interval is a 95 % Student-t interval over seeds. A paired difference
``a - b`` is taken over the seeds both ran: the same data and initial host, so seed-to-seed
variation cancels; its test is the paired t test.
"""

from __future__ import annotations

import math
from typing import Any

from esper.evaluation.plan import LARGER_STATIC, STATIC
from esper.evaluation.stats import estimate, paired


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def metric_name(task_kind: str) -> tuple[str, bool]:
    """The task's headline metric and whether higher is better."""
    if task_kind == "language_model":
        return "val_perplexity", False
    return "val_accuracy", True


def _value(cell: dict[str, Any], which: str, metric: str) -> float:
    value = cell[which].get(metric)
    return math.nan if value is None else float(value)


#: Epochs at the end of a run over which the final metric's own noise is measured.
TAIL_EPOCHS = 5


def tail_noise(cell: dict[str, Any], metric: str) -> float:
    """Standard deviation of the metric over the run's last `TAIL_EPOCHS` epochs: how much the
    final figure would move had the run stopped an epoch or two earlier or later."""
    tail = cell.get("curve", [])[-TAIL_EPOCHS:]
    if metric == "val_perplexity":
        values = [math.exp(min(float(p["val_loss"]), 50.0)) for p in tail]
    else:
        values = [float(p[metric]) for p in tail]
    if len(values) < 2:
        return math.nan
    return estimate(values).std


def _row(cells: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    def est(values: list[float]) -> dict[str, Any]:
        return estimate(values).to_dict()

    return {
        "seeds": [c["seed"] for c in cells],
        "final": est([_value(c, "final", metric) for c in cells]),
        "best": est([_value(c, "best", metric) for c in cells]),
        "params": est([float(c["params"]) for c in cells]),
        "flops_train": est([float(c["flops"]["train"]) for c in cells]),
        # The controller's own decisions (cells cached before esper counted them have none).
        "flops_control": est([float(c["flops"].get("control", 0)) for c in cells]),
        "epochs": est([float(c["epochs"]) for c in cells]),
        "wall_time_s": est([float(c["wall_time_s"]) for c in cells]),
        "seeds_fossilized": est([float(c["seeds"]["fossilized"]) for c in cells]),
        "tail_noise": est([tail_noise(c, metric) for c in cells]),
        "per_seed": {
            str(c["seed"]): {
                "final": _json_number(_value(c, "final", metric)),
                "best": _json_number(_value(c, "best", metric)),
                "flops_train": c["flops"]["train"],
                "params": c["params"],
            }
            for c in cells
        },
    }


def _compare(
    a: str,
    b: str,
    by_controller: dict[str, dict[int, dict[str, Any]]],
    metric: str,
    higher_is_better: bool,
) -> dict[str, Any] | None:
    common = sorted(set(by_controller[a]) & set(by_controller[b]))
    if not common:
        return None
    out: dict[str, Any] = {"a": a, "b": b, "seeds": len(common)}
    for which in ("final", "best"):
        result = paired(
            [_value(by_controller[a][s], which, metric) for s in common],
            [_value(by_controller[b][s], which, metric) for s in common],
        )
        diff = result.difference
        better = diff.low > 0.0 if higher_is_better else diff.high < 0.0
        worse = diff.high < 0.0 if higher_is_better else diff.low > 0.0
        record = result.to_dict()
        if not higher_is_better:  # a win is a seed where a is better: lower, for this metric
            record["wins"], record["losses"] = record["losses"], record["wins"]
        out[which] = {**record, "a_better": better, "a_worse": worse}
    return out


def summarize(
    cells: dict[tuple[str, int], dict[str, Any]],
    *,
    controllers: list[str],
    baseline: str | None,
    reference: str | None,
    header: dict[str, Any],
) -> dict[str, Any]:
    """The ``eval.json`` document for ``cells`` (controllers in the order given)."""
    order = controllers + ([LARGER_STATIC] if reference is not None else [])
    by_controller: dict[str, dict[int, dict[str, Any]]] = {label: {} for label in order}
    for (label, seed), cell in cells.items():
        by_controller.setdefault(label, {})[seed] = cell
    kinds = {cell["task_kind"] for cell in cells.values()}
    kind = kinds.pop() if len(kinds) == 1 else "classification"
    metric, higher = metric_name(kind)
    rows = {
        label: _row([by_controller[label][s] for s in sorted(by_controller[label])], metric)
        for label in order
        if by_controller[label]
    }
    pairs = [(label, STATIC) for label in rows if STATIC in rows and label != STATIC]
    if baseline in rows:
        pairs += [(label, baseline) for label in rows if label not in (STATIC, baseline)]
    comparisons = [
        c
        for a, b in dict.fromkeys(pairs)
        if (c := _compare(a, b, by_controller, metric, higher)) is not None
    ]
    return {
        **header,
        "task_kind": kind,
        "metric": metric,
        "higher_is_better": higher,
        "baseline": baseline,
        "larger_static_reference": reference,
        "controllers": rows,
        "comparisons": comparisons,
    }
