"""The seed timeline of ``esper run``: one row per slot, its stages as bands, its alpha as a line.

The chart has its own module because it is drawn in layers (bands and alpha per slot, then the
germinated / fossilized / pruned marks, then a legend of only what was drawn).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from esper.report.charts.style import integer_x, new_figure, plain
from esper.report.palette import IDLE_STAGES, STAGE_COLORS
from esper.report.records import EpochPoint, RunData, SeedMark

#: Half the height of a slot's row of bands (rows are one apart).
HALF = 0.35
#: Marker shape and colour of each kind of seed mark, in legend order.
SEED_MARKERS = {
    "germinated": ("^", "#1f77b4"),
    "fossilized": ("*", "#006d2c"),
    "pruned": ("X", "#a50f15"),
}
#: Colour of a stage that has none in `STAGE_COLORS` (a plugin's stage).
OTHER_STAGE_COLOR = "#bdbdbd"


def _stage_runs(stages: list[str]) -> list[tuple[int, int, str]]:
    """(first index, length, stage) of every run of equal stages."""
    runs: list[tuple[int, int, str]] = []
    for i, stage in enumerate(stages):
        if runs and runs[-1][2] == stage:
            start, length, _ = runs[-1]
            runs[-1] = (start, length + 1, stage)
        else:
            runs.append((i, 1, stage))
    return runs


def _timeline_slots(
    points: Sequence[EpochPoint], marks: Sequence[SeedMark], after: dict[int, dict[str, str]]
) -> list[str]:
    """The slots that ever held a seed or got a mark, in the engine's slot order."""
    if not points:
        return []
    slots: list[str] = []
    for p in points:
        for slot, stage in after[p.epoch].items():
            if stage not in IDLE_STAGES and slot not in slots:
                slots.append(slot)
    for m in marks:
        if m.slot_id not in slots:
            slots.append(m.slot_id)
    # Keep the engine's slot order (the order of the stages mapping).
    order = list(points[-1].stages)
    slots.sort(key=lambda s: order.index(s) if s in order else len(order))
    return slots


def _draw_slot(
    ax: Axes, y: int, slot: str, points: Sequence[EpochPoint], after: dict[int, dict[str, str]]
) -> set[str]:
    """Draw one slot's row at height ``y``: stage bands and alpha; returns the stages drawn."""
    epochs = [p.epoch for p in points]
    stages = [after[e].get(slot, "DORMANT") for e in epochs]
    drawn: set[str] = set()
    for start, length, stage in _stage_runs(stages):
        if stage in IDLE_STAGES:
            continue
        drawn.add(stage)
        x0 = epochs[start] - 0.5
        x1 = epochs[start + length - 1] + 0.5
        ax.broken_barh(
            [(x0, x1 - x0)],
            (y - HALF, 2 * HALF),
            facecolors=STAGE_COLORS.get(stage, OTHER_STAGE_COLOR),
            edgecolors="white",
            linewidth=0.5,
        )
    # One step per epoch, as wide as the epoch's band: alpha after that epoch.
    xs: list[float] = []
    ys: list[float] = []
    for p in points:
        level = y - HALF + 2 * HALF * p.alphas[slot] if slot in p.alphas else math.nan
        xs += [p.epoch - 0.5, p.epoch + 0.5]
        ys += [level, level]
    ax.plot(xs, ys, color="black", lw=1.2)
    return drawn


def _draw_marks(ax: Axes, marks: Sequence[SeedMark], slots: list[str], last: int) -> set[str]:
    """Mark where seeds were germinated (named by blueprint), fossilized and pruned; returns
    the kinds drawn."""
    n = len(slots)
    drawn: set[str] = set()
    for m in marks:
        if m.slot_id not in slots or m.epoch is None:
            continue
        y = n - 1 - slots.index(m.slot_id)
        shape, color = SEED_MARKERS[m.kind]
        drawn.add(m.kind)
        ax.plot(
            [m.epoch],
            [y],
            marker=shape,
            markersize=11 if shape == "*" else 8,
            color=color,
            markeredgecolor="white",
            ls="none",
            zorder=3,
        )
        if m.kind == "germinated":
            name = plain(m.blueprint_id.rsplit(":", 1)[-1], 18)
            # Near the right edge the name goes to the left of the mark, so it stays inside.
            right = m.epoch > 0.75 * last
            ax.annotate(
                name,
                (m.epoch + (0.4 if right else -0.4), y + HALF + 0.04),
                fontsize=7,
                ha="right" if right else "left",
                va="bottom",
                annotation_clip=False,
            )
    return drawn


def _legend(fig: Figure, stages: set[str], marks: set[str]) -> None:
    """A legend below the chart of the stages and marks drawn, and of the alpha line."""
    handles: list[Patch | Line2D] = [
        Patch(facecolor=STAGE_COLORS.get(s, OTHER_STAGE_COLOR), label=s.lower())
        for s in [*STAGE_COLORS, *sorted(stages - set(STAGE_COLORS))]
        if s in stages
    ]
    handles.append(Line2D([], [], color="black", lw=1.2, label="alpha (band bottom 0, top 1)"))
    for kind, (shape, color) in SEED_MARKERS.items():
        if kind in marks:
            handles.append(Line2D([], [], marker=shape, color=color, ls="none", label=kind))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 5),
        fontsize=8,
        frameon=False,
    )


def seed_timeline_chart(run: RunData, arm: str = "grown") -> Figure | None:
    """Every slot of ``arm`` that ever held a seed: stages as bands, alpha as a line, and marks
    where seeds were germinated, fossilized and pruned."""
    points = run.arm_epochs(arm)
    marks = [m for m in run.seeds if m.arm in (arm, None) and m.epoch is not None]
    after = run.stages_after(arm)
    slots = _timeline_slots(points, marks, after)
    if not slots:
        return None

    n = len(slots)
    fig, ax = new_figure(1.6 + 0.55 * n)
    ax.grid(False)
    ax.grid(True, axis="x", alpha=0.3)
    stages: set[str] = set()
    for row, slot in enumerate(slots):
        stages |= _draw_slot(ax, n - 1 - row, slot, points, after)
    epochs = [p.epoch for p in points]
    last = max(epochs)
    marked = _draw_marks(ax, marks, slots, last)
    ax.set_yticks(range(n), [plain(s, 16) for s in reversed(slots)])
    ax.set_ylim(-0.7, n - 0.1)
    ax.set_xlim(min(epochs) - 0.6, last + 0.6)
    integer_x(ax, "epoch")
    ax.set_ylabel("slot")
    _legend(fig, stages, marked)
    return fig
