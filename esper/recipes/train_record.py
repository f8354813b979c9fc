"""What one update of ``esper train`` records: its history row in ``summary.json`` (and in
``policy.pt``), and the `TrainingAnomaly` kinds its agent metrics show."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from esper.contracts.runner import EpisodeResult

#: Per-head ratio extremes beyond which an update is reported as exploding / collapsing.
RATIO_LIMITS = (0.2, 5.0)
#: Explained variance below which the critic is reported as collapsed (after a few updates).
VALUE_COLLAPSE_EV = -1.0
VALUE_COLLAPSE_AFTER = 5


def anomalies(update: int, metrics: dict[str, float]) -> list[tuple[str, float]]:
    """The `TrainingAnomaly` kinds an update's metrics show, with the offending value."""
    found: list[tuple[str, float]] = []
    if metrics.get("nonfinite", 0.0) > 0.0 or metrics.get("skipped", 0.0) > 0.0:
        found.append(("numerical_instability", metrics.get("nonfinite", 1.0)))
    high, low = metrics.get("ratio_max"), metrics.get("ratio_min")
    if high is not None and high > RATIO_LIMITS[1]:
        found.append(("ratio_explosion", high))
    if low is not None and low < RATIO_LIMITS[0]:
        found.append(("ratio_collapse", low))
    ev = metrics.get("explained_variance")
    if ev is not None and update >= VALUE_COLLAPSE_AFTER and ev < VALUE_COLLAPSE_EV:
        found.append(("value_collapse", ev))
    return found


def update_record(
    update: int,
    episodes: Sequence[EpisodeResult],
    metrics: dict[str, float],
    *,
    wall: float,
    batches_per_epoch: int,
    cheap: bool,
) -> dict[str, Any]:
    """The history row of update ``update``."""
    finished = [e.val_accuracy for e in episodes if math.isfinite(e.val_accuracy)]
    actions: dict[str, int] = {}
    for e in episodes:
        for op, n in e.actions.items():
            actions[op] = actions.get(op, 0) + n
    return {
        "update": update,
        "episodes": len(episodes),
        # Whether the update's episodes were cheap ones (`train.cheap_share`), and the
        # training batches each of their epochs ran.
        "cheap": cheap,
        "batches_per_epoch": batches_per_epoch,
        # Controller decisions: one per epoch of every episode.
        "decisions": sum(e.epochs for e in episodes),
        "mean_reward": statistics.fmean(e.reward for e in episodes) if episodes else 0.0,
        "mean_accuracy": statistics.fmean(finished) if finished else float("nan"),
        "rollbacks": sum(e.rolled_back for e in episodes),
        # Episodes cut short because their environment was lost (a dead remote worker).
        "lost": sum(e.lost for e in episodes),
        "fossilized": sum(e.seeds_fossilized for e in episodes),
        "mean_params": statistics.fmean(e.params_total for e in episodes) if episodes else 0,
        # Host training, and apart from it the controller's decisions; the agent's own
        # updates are not counted.
        "flops_train": sum(e.flops_train for e in episodes),
        "flops_control": sum(e.flops_control for e in episodes),
        "actions": actions,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "wall_time_s": round(wall, 3),
    }


def decisions_per_hour(history: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Controller decisions per hour of wall time, over the cheap and over the full updates
    (None where there were none): what the curriculum buys."""
    rates: dict[str, float | None] = {}
    for kind, cheap in (("cheap", True), ("full", False)):
        rows = [r for r in history if r.get("cheap", False) is cheap and "decisions" in r]
        wall = sum(r["wall_time_s"] for r in rows)
        rates[kind] = round(3600 * sum(r["decisions"] for r in rows) / wall, 1) if wall else None
    return rates
