"""The chart of a report on several runs: the final accuracy of each, one bar per arm."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from esper.report.charts.style import ARM_COLORS, ARM_LABELS, arm_color, new_figure, plain
from esper.report.records import RunData


def comparison_chart(runs: Sequence[RunData]) -> Figure | None:
    """Final validation accuracy of every run, one bar per arm (``train``: the last update's
    mean final accuracy)."""
    finals = [r.final_accuracy() for r in runs]
    arms: list[str] = []
    for final in finals:
        arms += [a for a in final if a not in arms]
    if not arms:
        return None
    known = list(ARM_COLORS)
    arms.sort(key=lambda a: known.index(a) if a in known else len(known))
    colors = {a: arm_color(a, i) for i, a in enumerate(arms)}
    fig, ax = new_figure(3.2 + (0.4 if len(runs) > 3 else 0.0))
    width = min(0.8 / max(len(f) for f in finals), 0.35)
    labelled: set[str] = set()
    for i, final in enumerate(finals):
        # Each run's bars are centred on its tick, whatever arms it has.
        present = [a for a in arms if a in final]
        for j, arm in enumerate(present):
            bars = ax.bar(
                [i + (j - (len(present) - 1) / 2) * width],
                [final[arm]],
                width=width * 0.95,
                color=colors[arm],
                label=None if arm in labelled else plain(ARM_LABELS.get(arm, arm), 30),
            )
            labelled.add(arm)
            ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    tilt = len(runs) > 3
    ax.set_xticks(
        range(len(runs)),
        [plain(f"{i + 1}. {r.name}", 26) for i, r in enumerate(runs)],
        rotation=20 if tilt else 0,
        ha="right" if tilt else "center",
        fontsize=8,
    )
    top = max((v for f in finals for v in f.values() if math.isfinite(v)), default=1.0)
    ax.set_ylim(0, max(top * 1.15, 1.0))
    ax.grid(False)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_ylabel("final validation accuracy (%)")
    fig.legend(loc="outside right upper", fontsize=9)
    return fig
