"""The charts of an evaluation directory (``esper eval``): seeds, compute and paired differences.

Each takes an `EvalData` and returns a matplotlib `Figure`, or None when there is nothing to
draw. Controllers keep one colour in every chart (static grey, as in the run charts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from esper.report.charts.style import arm_color, new_figure, plain
from esper.report.eval_records import Estimate, EvalData

#: Where a controller's dots spread around its tick (left of it) and where its mean sits.
_DOTS_CENTRE, _DOTS_SPREAD, _MEAN_AT = -0.08, 0.24, 0.2
_BETTER, _WORSE, _NEITHER = "#2ca02c", "#d62728", "#444444"


def controller_colors(ev: EvalData) -> dict[str, str]:
    """A colour per controller: static's fixed grey, the others from the cycle in turn."""
    others = [label for label in ev.controllers if label != "static"]
    return {
        label: arm_color(label, others.index(label) if label in others else 0)
        for label in ev.controllers
    }


def _finite(value: float | None) -> float | None:
    """``value`` where it is a finite number, else None (so that a check narrows the type)."""
    return value if value is not None and math.isfinite(value) else None


def _error(est: Estimate | None) -> list[list[float]] | None:
    """Matplotlib's asymmetric error of an estimate's interval (None: no bounded interval)."""
    if est is None or est.mean is None or est.low is None or est.high is None:
        return None
    return [[est.mean - est.low], [est.high - est.mean]]


def _seed_offsets(seeds: Sequence[int]) -> dict[int, float]:
    """Each seed's x offset from its controller's tick: spread by rank, the same in every
    column, so that the dots of one seed line up and the result is reproducible."""
    if len(seeds) < 2:
        return {s: _DOTS_CENTRE for s in seeds}
    last = len(seeds) - 1
    return {s: _DOTS_CENTRE + (k / last - 0.5) * _DOTS_SPREAD for k, s in enumerate(seeds)}


def _controller_ticks(ax: Axes, labels: Sequence[str]) -> None:
    tilt = len(labels) > 4
    ax.set_xticks(
        range(len(labels)),
        [plain(label, 26) for label in labels],
        rotation=20 if tilt else 0,
        ha="right" if tilt else "center",
        fontsize=8,
    )
    ax.set_xlim(-0.6, len(labels) - 0.4)


def seed_dots_chart(ev: EvalData) -> Figure | None:
    """Final metric of every seed of every controller (one dot each), each controller's mean
    with its 95% interval beside them, and grey lines joining the dots of the same seed."""
    labels = list(ev.controllers)
    seeds = sorted({s for row in ev.controllers.values() for s in row.per_seed})
    if not labels or all(_finite(r.final.mean) is None for r in ev.controllers.values()):
        return None
    colors = controller_colors(ev)
    offsets = _seed_offsets(seeds)
    fig, ax = new_figure()
    for seed in seeds:
        # NaN breaks the line where a controller lacks the seed.
        ys = [
            r.per_seed[seed].final if seed in r.per_seed else math.nan
            for r in ev.controllers.values()
        ]
        xs = [i + offsets[seed] for i in range(len(labels))]
        ax.plot(xs, ys, color="#b0b0b0", lw=0.7, alpha=0.6, zorder=1)
    for i, (label, row) in enumerate(ev.controllers.items()):
        points = [
            (s, r.final) for s, r in sorted(row.per_seed.items()) if _finite(r.final) is not None
        ]
        ax.scatter(
            [i + offsets[s] for s, _ in points],
            [y for _, y in points],
            s=18,
            color=colors[label],
            alpha=0.85,
            edgecolors="none",
            zorder=3,
        )
        mean = _finite(row.final.mean)
        if mean is not None:
            ax.errorbar(
                [i + _MEAN_AT],
                [mean],
                yerr=_error(row.final),
                fmt="D",
                ms=6,
                color=colors[label],
                mec="black",
                ecolor="black",
                capsize=4,
                zorder=4,
            )
    _controller_ticks(ax, labels)
    ax.set_ylabel(f"final {ev.unit}")
    ax.grid(False)
    ax.grid(True, axis="y", alpha=0.3)
    fig.legend(
        handles=[
            Line2D([], [], ls="", marker="o", ms=5, color="#666666", label="one seed"),
            Line2D([], [], ls="-", marker="D", ms=5, color="black", label="mean, 95% CI"),
            Line2D([], [], color="#b0b0b0", label="same seed"),
        ],
        loc="outside right upper",
        fontsize=9,
    )
    return fig


def flops_chart(ev: EvalData) -> Figure | None:
    """Every seed's metric against the training FLOPs it had spent (one thin line per cell),
    and each controller's mean final metric at its mean FLOPs, with both 95% intervals."""
    if not any(ev.curves.values()) and not any(
        r.flops_train is not None for r in ev.controllers.values()
    ):
        return None
    colors = controller_colors(ev)
    fig, ax = new_figure(4.0)
    handles: list[Line2D] = []
    for label, row in ev.controllers.items():
        color = colors[label]
        for points in ev.curves.get(label, {}).values():
            ax.plot(
                [p.flops_train for p in points],
                [p.value for p in points],
                color=color,
                lw=0.8,
                alpha=0.35,
                zorder=2,
            )
        x = _finite(row.flops_train.mean) if row.flops_train is not None else None
        y = _finite(row.final.mean)
        if x is not None and y is not None:
            ax.errorbar(
                [x],
                [y],
                xerr=_error(row.flops_train),
                yerr=_error(row.final),
                fmt="o",
                ms=7,
                color=color,
                mec="black",
                ecolor=color,
                elinewidth=1.5,
                capsize=3,
                zorder=4,
            )
        handles.append(Line2D([], [], color=color, marker="o", mec="black", label=plain(label, 30)))
    ax.set_xlabel("training FLOPs spent (cumulative)")
    ax.set_ylabel(ev.unit)
    fig.legend(handles=handles, loc="outside right upper", fontsize=9)
    return fig


def differences_chart(ev: EvalData) -> Figure | None:
    """One row per comparison: the mean paired difference ``a - b`` of the final metric with
    its 95% interval, green where a is better, red where worse; a line marks zero."""
    rows = [
        (comp, mean)
        for comp in ev.comparisons
        if (mean := _finite(comp.final.difference.mean)) is not None
    ]
    if not rows:
        return None
    fig, ax = new_figure(1.3 + 0.42 * len(rows))
    top = len(rows) - 1
    for k, (comp, mean) in enumerate(rows):
        part = comp.final
        color = _BETTER if part.a_better else _WORSE if part.a_worse else _NEITHER
        ax.errorbar(
            [mean],
            [top - k],
            xerr=_error(part.difference),
            fmt="o",
            ms=6,
            color=color,
            elinewidth=2,
            capsize=4,
            zorder=3,
        )
    ax.axvline(0.0, color="black", lw=1, ls="--", zorder=2)
    ax.set_yticks(
        [top - k for k in range(len(rows))],
        [plain(f"{c.a} \u2212 {c.b}", 40) for c, _ in rows],
        fontsize=8,
    )
    ax.set_ylim(-0.6, top + 0.6)
    ax.grid(False)
    ax.grid(True, axis="x", alpha=0.3)
    unit = " (points)" if ev.metric == "val_accuracy" else ""
    side = ">" if ev.higher_is_better else "<"
    ax.set_xlabel(
        f"difference in final {ev.metric_label}{unit}, a \u2212 b ({side} 0: a is better)"
    )
    return fig
