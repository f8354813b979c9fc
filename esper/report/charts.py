"""The report's charts: one function per chart, each returning a matplotlib `Figure`.

Figures are made with `matplotlib.figure.Figure` on an Agg canvas directly (never pyplot),
so no GUI backend and no global figure state are involved; PNGs are rendered by Agg and SVGs
by matplotlib's SVG backend. A chart function returns None when the run holds nothing to draw. Strings from run
directories go through `plain` before they reach matplotlib, so a ``$`` in a name is drawn as
it is rather than parsed as mathtext.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from esper.report.data import EpochPoint, RunData

WIDTH, HEIGHT = 8.0, 3.6
DPI = 100

ARM_COLORS = {"static": "#7f7f7f", "grown": "#1f77b4", "train": "#2ca02c"}
_ARM_LABELS = {"train": "esper train\n(last update)"}
_OTHER_COLORS = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728")

STAGE_COLORS = {
    "GERMINATED": "#dadaeb",
    "TRAINING": "#9ecae1",
    "BLENDING": "#fdae6b",
    "HOLDING": "#fdd0a2",
    "FOSSILIZED": "#74c476",
    "PRUNED": "#fb6a4a",
    "EMBARGOED": "#fcbba1",
    "RESETTING": "#d9d9d9",
}
_IDLE_STAGES = ("DORMANT", "UNKNOWN")

#: Order of operations in the action-mix chart; unknown operations follow alphabetically.
OP_ORDER = ("WAIT", "GERMINATE", "ADVANCE", "SET_ALPHA_TARGET", "FOSSILIZE", "PRUNE")
OP_COLORS = {
    "WAIT": "#c7c7c7",
    "GERMINATE": "#1f77b4",
    "ADVANCE": "#9edae5",
    "SET_ALPHA_TARGET": "#ff7f0e",
    "FOSSILIZE": "#2ca02c",
    "PRUNE": "#d62728",
}

#: PPO metrics named ``entropy_*`` that are not the entropy of a head.
_NOT_HEADS = frozenset({"entropy_loss", "entropy_floor_penalty"})


def plain(text: str, limit: int | None = None) -> str:
    """``text`` made safe for matplotlib text (no mathtext), shortened to ``limit`` characters."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")


def arm_color(arm: str, index: int = 0) -> str:
    """The colour of an arm: fixed for static, grown and train, else from a cycle."""
    return ARM_COLORS.get(arm) or _OTHER_COLORS[index % len(_OTHER_COLORS)]


def _figure(height: float = HEIGHT) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # headless raster canvas; no GUI backend is ever selected
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _integer_x(ax: Axes, label: str) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)


def _thousands(ax: Axes) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))


def _arms(run: RunData) -> list[str]:
    # Static first: it is the baseline the grown arm is read against.
    arms = run.arms()
    return sorted(arms, key=lambda a: (a != "static", a != "grown", arms.index(a)))


def _series(points: Sequence[EpochPoint], value: Callable[[EpochPoint], float]) -> list[float]:
    return [value(p) for p in points]


# -- esper run -------------------------------------------------------------------------------


def accuracy_chart(run: RunData) -> Figure | None:
    """Validation accuracy per epoch of every arm, with governor rollbacks marked."""
    if not run.epochs:
        return None
    fig, ax = _figure()
    for i, arm in enumerate(_arms(run)):
        points = run.arm_epochs(arm)
        ax.plot(
            [p.epoch for p in points],
            _series(points, lambda p: p.val_accuracy),
            marker="o" if len(points) <= 40 else None,
            markersize=3,
            lw=2 if arm == "grown" else 1.5,
            color=arm_color(arm, i),
            label=plain(arm, 30),
        )
    labelled = False
    for rb in run.rollbacks:
        if rb.epoch is None:
            continue
        ax.axvline(rb.epoch, color="#d62728", ls=":", lw=1.2)
        match = [p for p in run.epochs if p.arm == rb.arm and p.epoch == rb.epoch]
        if match:
            ax.plot(
                [rb.epoch],
                [match[0].val_accuracy],
                marker="v",
                markersize=9,
                color="#d62728",
                ls="none",
                label=None if labelled else "governor rollback",
            )
            labelled = True
    if run.rollbacks and not labelled:
        ax.plot([], [], color="#d62728", ls=":", label="governor rollback")
    _integer_x(ax, "epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend(loc="best", fontsize=9)
    return fig


def loss_chart(run: RunData) -> Figure | None:
    """Validation loss (solid) and training loss (dashed) per epoch of every arm."""
    if not run.epochs:
        return None
    fig, ax = _figure()
    for i, arm in enumerate(_arms(run)):
        points = run.arm_epochs(arm)
        epochs = [p.epoch for p in points]
        color = arm_color(arm, i)
        name = plain(arm, 30)
        ax.plot(
            epochs, _series(points, lambda p: p.val_loss), color=color, lw=2, label=f"{name} val"
        )
        ax.plot(
            epochs,
            _series(points, lambda p: p.train_loss),
            color=color,
            lw=1.2,
            ls="--",
            alpha=0.7,
            label=f"{name} train",
        )
    _integer_x(ax, "epoch")
    ax.set_ylabel("loss")
    ax.legend(loc="upper right", fontsize=9, ncol=2)
    return fig


def params_chart(run: RunData) -> Figure | None:
    """Total parameters (host, live seeds and fossilized seeds) per epoch of every arm."""
    if not run.epochs:
        return None
    fig, ax = _figure(3.0)
    for i, arm in enumerate(_arms(run)):
        points = run.arm_epochs(arm)
        ax.plot(
            [p.epoch for p in points],
            _series(points, lambda p: float(p.params_total)),
            drawstyle="steps-post",
            lw=2 if arm == "grown" else 1.5,
            color=arm_color(arm, i),
            label=plain(arm, 30),
        )
    _integer_x(ax, "epoch")
    _thousands(ax)
    ax.set_ylabel("parameters")
    ax.legend(loc="upper left", fontsize=9)
    return fig


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


def seed_timeline_chart(run: RunData, arm: str = "grown") -> Figure | None:
    """Every slot of ``arm`` that ever held a seed: stages as bands, alpha as a line, and marks
    where seeds were germinated, fossilized and pruned."""
    points = run.arm_epochs(arm)
    marks = [m for m in run.seeds if m.arm in (arm, None) and m.epoch is not None]
    after = run.stages_after(arm)
    slots: list[str] = []
    for p in points:
        for slot, stage in after[p.epoch].items():
            if stage not in _IDLE_STAGES and slot not in slots:
                slots.append(slot)
    for m in marks:
        if m.slot_id not in slots:
            slots.append(m.slot_id)
    if not points or not slots:
        return None
    # Keep the engine's slot order (the order of the stages mapping).
    order = list(points[-1].stages)
    slots.sort(key=lambda s: order.index(s) if s in order else len(order))

    n = len(slots)
    fig, ax = _figure(1.6 + 0.55 * n)
    ax.grid(False)
    ax.grid(True, axis="x", alpha=0.3)
    epochs = [p.epoch for p in points]
    last = max(epochs)
    half = 0.35
    seen_stages: set[str] = set()
    for row, slot in enumerate(slots):
        y = n - 1 - row
        stages = [after[e].get(slot, "DORMANT") for e in epochs]
        for start, length, stage in _stage_runs(stages):
            if stage in _IDLE_STAGES:
                continue
            seen_stages.add(stage)
            x0 = epochs[start] - 0.5
            x1 = epochs[start + length - 1] + 0.5
            ax.broken_barh(
                [(x0, x1 - x0)],
                (y - half, 2 * half),
                facecolors=STAGE_COLORS.get(stage, "#bdbdbd"),
                edgecolors="white",
                linewidth=0.5,
            )
        # One step per epoch, as wide as the epoch's band: alpha after that epoch.
        xs: list[float] = []
        ys: list[float] = []
        for p in points:
            level = y - half + 2 * half * p.alphas[slot] if slot in p.alphas else math.nan
            xs += [p.epoch - 0.5, p.epoch + 0.5]
            ys += [level, level]
        ax.plot(xs, ys, color="black", lw=1.2)
    marker = {
        "germinated": ("^", "#1f77b4"),
        "fossilized": ("*", "#006d2c"),
        "pruned": ("X", "#a50f15"),
    }
    seen_marks: set[str] = set()
    for m in marks:
        if m.slot_id not in slots or m.epoch is None:
            continue
        y = n - 1 - slots.index(m.slot_id)
        shape, color = marker[m.kind]
        seen_marks.add(m.kind)
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
            right = m.epoch > 0.75 * last
            ax.annotate(
                name,
                (m.epoch + (0.4 if right else -0.4), y + half + 0.04),
                fontsize=7,
                ha="right" if right else "left",
                va="bottom",
                annotation_clip=False,
            )
    ax.set_yticks(range(n), [plain(s, 16) for s in reversed(slots)])
    ax.set_ylim(-0.7, n - 0.1)
    ax.set_xlim(min(epochs) - 0.6, last + 0.6)
    _integer_x(ax, "epoch")
    ax.set_ylabel("slot")

    handles: list[Patch | Line2D] = [
        Patch(facecolor=STAGE_COLORS.get(s, "#bdbdbd"), label=s.lower())
        for s in [*STAGE_COLORS, *sorted(seen_stages - set(STAGE_COLORS))]
        if s in seen_stages
    ]
    handles.append(Line2D([], [], color="black", lw=1.2, label="alpha (band bottom 0, top 1)"))
    for kind, (shape, color) in marker.items():
        if kind in seen_marks:
            handles.append(Line2D([], [], marker=shape, color=color, ls="none", label=kind))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 5),
        fontsize=8,
        frameon=False,
    )
    return fig


# -- esper train -----------------------------------------------------------------------------


def _update_line(
    run: RunData, value: Callable[[int], float | None], ylabel: str, color: str
) -> Figure | None:
    xs: list[int] = []
    ys: list[float] = []
    for i, u in enumerate(run.updates):
        v = value(i)
        if v is not None:
            xs.append(u.update + 1)
            ys.append(v)
    if not xs:
        return None
    fig, ax = _figure(3.0)
    ax.plot(xs, ys, color=color, lw=1.8, marker="o" if len(xs) <= 40 else None, markersize=3)
    _integer_x(ax, "update")
    ax.set_ylabel(ylabel)
    return fig


def reward_chart(run: RunData) -> Figure | None:
    """Mean episode reward per update."""
    return _update_line(run, lambda i: run.updates[i].mean_reward, "mean episode reward", "#9467bd")


def train_accuracy_chart(run: RunData) -> Figure | None:
    """Mean final validation accuracy of the episodes of each update."""
    return _update_line(
        run, lambda i: run.updates[i].mean_accuracy, "mean final accuracy (%)", ARM_COLORS["train"]
    )


def entropy_chart(run: RunData) -> Figure | None:
    """Normalised entropy of every action head per update (``entropy_<head>`` metrics), one
    small panel per head so that heads with equal values do not hide each other."""
    heads: list[str] = []
    for u in run.updates:
        for key in u.metrics:
            if key.startswith("entropy_") and key not in _NOT_HEADS and key not in heads:
                heads.append(key)
    if not heads:
        return None
    cols = min(4, len(heads))
    rows = math.ceil(len(heads) / cols)
    fig = Figure(figsize=(WIDTH, 0.6 + 1.7 * rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(heads):
            ax.set_visible(False)
            continue
        key = heads[i]
        xs = [u.update + 1 for u in run.updates if key in u.metrics]
        ys = [u.metrics[key] for u in run.updates if key in u.metrics]
        ax.plot(xs, ys, lw=1.5, color="#1f77b4", marker="o" if len(xs) <= 40 else None, ms=2.5)
        ax.set_title(plain(key.removeprefix("entropy_"), 24), fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    top = max((max(u.metrics.get(k, 0.0) for k in heads) for u in run.updates), default=1.0)
    axes[0, 0].set_ylim(-0.05, max(1.05, top * 1.05))
    fig.supxlabel("update", fontsize=10)
    fig.supylabel("normalised entropy", fontsize=10)
    return fig


def _metric(run: RunData, key: str) -> Callable[[int], float | None]:
    return lambda i: run.updates[i].metrics.get(key)


def kl_chart(run: RunData) -> Figure | None:
    """Approximate KL divergence between the policy before and after each update."""
    return _update_line(run, _metric(run, "approx_kl"), "approx. KL", "#8c564b")


def explained_variance_chart(run: RunData) -> Figure | None:
    """Explained variance of the value head, measured before each update."""
    fig = _update_line(
        run, _metric(run, "explained_variance"), "explained variance (pre-update)", "#17becf"
    )
    if fig is not None:
        fig.axes[0].axhline(0.0, color="black", lw=0.8, alpha=0.6)
    return fig


def _ops(run: RunData) -> list[str]:
    found = {op for u in run.updates for op, n in u.actions.items() if n}
    return [op for op in OP_ORDER if op in found] + sorted(found - set(OP_ORDER))


def action_mix_chart(run: RunData) -> Figure | None:
    """Share of each operation among the actions of each update (stacked)."""
    ops = _ops(run)
    updates = [u for u in run.updates if sum(u.actions.values())]
    if not ops or not updates:
        return None
    fig, ax = _figure()
    xs = [u.update + 1 for u in updates]
    totals = [sum(u.actions.values()) for u in updates]
    shares = {
        op: [100.0 * u.actions.get(op, 0) / t for u, t in zip(updates, totals, strict=True)]
        for op in ops
    }
    colors = [
        OP_COLORS.get(op) or _OTHER_COLORS[i % len(_OTHER_COLORS)] for i, op in enumerate(ops)
    ]
    labels = [plain(op.lower(), 24) for op in ops]
    if len(updates) <= 60:
        bottom = [0.0] * len(xs)
        for op, color, label in zip(ops, colors, labels, strict=True):
            ax.bar(xs, shares[op], bottom=bottom, width=0.8, color=color, label=label)
            bottom = [b + s for b, s in zip(bottom, shares[op], strict=True)]
    else:
        ax.stackplot(xs, *[shares[op] for op in ops], colors=colors, labels=labels)
    ax.set_ylim(0, 100)
    ax.grid(False)
    ax.grid(True, axis="y", alpha=0.3)
    _integer_x(ax, "update")
    ax.set_ylabel("share of actions (%)")
    fig.legend(loc="outside right upper", fontsize=8, title="operation", title_fontsize=8)
    return fig


# -- several runs ----------------------------------------------------------------------------


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
    fig, ax = _figure(3.2 + (0.4 if len(runs) > 3 else 0.0))
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
                label=None if arm in labelled else plain(_ARM_LABELS.get(arm, arm), 30),
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


# -- the charts of one run, and saving -------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChartSpec:
    """One chart of the page: the figure (None when there is nothing to draw) and its text."""

    slug: str
    title: str
    caption: str
    figure: Figure | None
    #: Shown instead of the chart when ``figure`` is None.
    empty: str = "nothing to draw"


def run_charts(run: RunData) -> list[ChartSpec]:
    """The charts of one run directory, in page order."""
    if run.kind == "train":
        return [
            ChartSpec(
                slug="reward",
                title="Mean episode reward",
                caption="Mean total reward of the episodes of each update.",
                figure=reward_chart(run),
                empty="no updates recorded",
            ),
            ChartSpec(
                slug="accuracy",
                title="Mean final accuracy",
                caption="Mean validation accuracy at the last epoch of the episodes of each "
                "update (episodes that did not finish are left out).",
                figure=train_accuracy_chart(run),
                empty="no updates recorded",
            ),
            ChartSpec(
                slug="actions",
                title="Action mix",
                caption="Share of each operation among all actions the policy took in the "
                "episodes of each update.",
                figure=action_mix_chart(run),
                empty="no action counts (summary.json is missing or has no history)",
            ),
            ChartSpec(
                slug="entropy",
                title="Policy entropy per head",
                caption="Entropy of each action head's distribution over its valid choices, "
                "divided by its maximum (1: uniform, 0: certain), averaged over the update "
                "(entropy_<head> metrics of the agent).",
                figure=entropy_chart(run),
                empty="the agent reported no entropy_<head> metrics",
            ),
            ChartSpec(
                slug="kl",
                title="Approximate KL divergence",
                caption="Approximate KL divergence between the policy that collected the "
                "rollout and the updated policy (approx_kl).",
                figure=kl_chart(run),
                empty="the agent reported no approx_kl metric",
            ),
            ChartSpec(
                slug="explained-variance",
                title="Explained variance (pre-update)",
                caption="How much of the variance of the returns the value head explained, "
                "measured with the values recorded in the rollout, before the update "
                "(1 is perfect, 0 is no better than the mean).",
                figure=explained_variance_chart(run),
                empty="the agent reported no explained_variance metric",
            ),
        ]
    return [
        ChartSpec(
            slug="accuracy",
            title="Validation accuracy",
            caption="Validation accuracy after each epoch, static and grown arms; red "
            "triangles and dotted lines mark governor rollbacks.",
            figure=accuracy_chart(run),
            empty="no engine.epoch events in events.jsonl",
        ),
        ChartSpec(
            slug="loss",
            title="Loss",
            caption="Validation loss (solid) and training loss (dashed) after each epoch.",
            figure=loss_chart(run),
            empty="no engine.epoch events in events.jsonl",
        ),
        ChartSpec(
            slug="seeds",
            title="Seed timeline (grown arm)",
            caption="Each slot that held a seed: the seed's stage after each epoch as coloured "
            "bands, its alpha as a black line (bottom of the band 0, top 1), and marks where "
            "a seed was germinated (with its blueprint), fossilized or pruned.",
            figure=seed_timeline_chart(run),
            empty="no seed was germinated in the grown arm",
        ),
        ChartSpec(
            slug="params",
            title="Parameters",
            caption="Total parameters of each arm after each epoch: host, live seeds and "
            "fossilized seeds.",
            figure=params_chart(run),
            empty="no engine.epoch events in events.jsonl",
        ),
    ]


def save_figure(fig: Figure, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` under ``directory``."""
    png, svg = directory / f"{stem}.png", directory / f"{stem}.svg"
    # A fixed hash salt and no date make the SVG files reproducible.
    with matplotlib.rc_context({"svg.hashsalt": "esper", "svg.fonttype": "path"}):
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None})
    return png, svg
