"""The per-update charts of ``esper train``: reward, accuracy, policy metrics and action mix."""

from __future__ import annotations

import math
from collections.abc import Callable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from esper.report.charts.style import (
    ARM_COLORS,
    DPI,
    OTHER_COLORS,
    WIDTH,
    integer_x,
    new_figure,
    plain,
)
from esper.report.palette import OP_COLORS, OP_ORDER
from esper.report.records import RunData

#: PPO metrics named ``entropy_*`` that are not the entropy of a head.
_NOT_HEADS = frozenset({"entropy_loss", "entropy_floor_penalty"})


def _update_line(
    run: RunData, value: Callable[[int], float | None], ylabel: str, color: str
) -> Figure | None:
    """One value per update as a line; updates without the value are left out."""
    xs: list[int] = []
    ys: list[float] = []
    for i, u in enumerate(run.updates):
        v = value(i)
        if v is not None:
            xs.append(u.update + 1)
            ys.append(v)
    if not xs:
        return None
    fig, ax = new_figure(3.0)
    ax.plot(xs, ys, color=color, lw=1.8, marker="o" if len(xs) <= 40 else None, markersize=3)
    integer_x(ax, "update")
    ax.set_ylabel(ylabel)
    return fig


def _metric(run: RunData, key: str) -> Callable[[int], float | None]:
    return lambda i: run.updates[i].metrics.get(key)


def reward_chart(run: RunData) -> Figure | None:
    """Mean episode reward per update."""
    return _update_line(run, lambda i: run.updates[i].mean_reward, "mean episode reward", "#9467bd")


def train_accuracy_chart(run: RunData) -> Figure | None:
    """Mean final validation accuracy of the episodes of each update."""
    return _update_line(
        run, lambda i: run.updates[i].mean_accuracy, "mean final accuracy (%)", ARM_COLORS["train"]
    )


def kl_chart(run: RunData) -> Figure | None:
    """Approximate KL divergence between the policy before and after each update."""
    return _update_line(run, _metric(run, "approx_kl"), "approx. KL", "#8c564b")


def explained_variance_chart(run: RunData) -> Figure | None:
    """Explained variance of the value head before each update (the values the rollout was
    collected with) and, where the agent reports it, after (the critic the update trained)."""
    before = [(u.update + 1, u.metrics.get("explained_variance")) for u in run.updates]
    after = [(u.update + 1, u.metrics.get("explained_variance_after")) for u in run.updates]
    lines = [
        (label, [(x, y) for x, y in points if y is not None], color, style)
        for label, points, color, style in (
            ("before the update", before, "#17becf", "-"),
            ("after the update", after, "#1f77b4", "--"),
        )
    ]
    lines = [line for line in lines if line[1]]
    if not lines:
        return None
    fig, ax = new_figure(3.0)
    for label, points, color, style in lines:
        xs, ys = zip(*points, strict=True)
        marker = "o" if len(xs) <= 40 else None
        ax.plot(xs, ys, color=color, ls=style, lw=1.8, marker=marker, markersize=3, label=label)
    ax.axhline(0.0, color="black", lw=0.8, alpha=0.6)
    integer_x(ax, "update")
    ax.set_ylabel("explained variance")
    if len(lines) > 1:
        ax.legend(fontsize=8)
    return fig


def value_scale_chart(run: RunData) -> Figure | None:
    """The scale of the critic's targets: the raw returns' std and the value normaliser's."""
    fig = _update_line(run, _metric(run, "return_std"), "std", "#ff7f0e")
    if fig is None:
        return None
    ax = fig.axes[0]
    ax.lines[0].set_label("raw returns")
    xs = [u.update + 1 for u in run.updates if "value_scale" in u.metrics]
    ys = [u.metrics["value_scale"] for u in run.updates if "value_scale" in u.metrics]
    if xs:
        ax.plot(xs, ys, color="#7f7f7f", ls="--", lw=1.5, label="value normaliser")
    ax.legend(fontsize=8)
    return fig


def _head_keys(run: RunData, prefix: str, skip: frozenset[str] = frozenset()) -> list[str]:
    keys: list[str] = []
    for u in run.updates:
        for key in u.metrics:
            if key.startswith(prefix) and key not in skip and key not in keys:
                keys.append(key)
    return keys


def _head_panels(run: RunData, keys: list[str], prefix: str, ylabel: str) -> Figure:
    """One small panel per action head, so that heads with equal values do not hide each other."""
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(WIDTH, 0.6 + 1.7 * rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(keys):
            ax.set_visible(False)
            continue
        key = keys[i]
        xs = [u.update + 1 for u in run.updates if key in u.metrics]
        ys = [u.metrics[key] for u in run.updates if key in u.metrics]
        ax.plot(xs, ys, lw=1.5, color="#1f77b4", marker="o" if len(xs) <= 40 else None, ms=2.5)
        ax.set_title(plain(key.removeprefix(prefix), 24), fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
    fig.supxlabel("update", fontsize=10)
    fig.supylabel(ylabel, fontsize=10)
    return fig


def entropy_chart(run: RunData) -> Figure | None:
    """Normalised entropy of every action head per update (``entropy_<head>`` metrics)."""
    heads = _head_keys(run, "entropy_", _NOT_HEADS)
    if not heads:
        return None
    fig = _head_panels(run, heads, "entropy_", "normalised entropy")
    top = max((max(u.metrics.get(k, 0.0) for k in heads) for u in run.updates), default=1.0)
    fig.axes[0].set_ylim(-0.05, max(1.05, top * 1.05))
    return fig


def advantage_spread_chart(run: RunData) -> Figure | None:
    """Each head's advantage spread per update (``adv_std_<head>``): the signal it learns from."""
    heads = _head_keys(run, "adv_std_")
    return _head_panels(run, heads, "adv_std_", "advantage std (raw)") if heads else None


def _ops(run: RunData) -> list[str]:
    found = {op for u in run.updates for op, n in u.actions.items() if n}
    return [op for op in OP_ORDER if op in found] + sorted(found - set(OP_ORDER))


def action_mix_chart(run: RunData) -> Figure | None:
    """Share of each operation among the actions of each update (stacked)."""
    ops = _ops(run)
    updates = [u for u in run.updates if sum(u.actions.values())]
    if not ops or not updates:
        return None
    fig, ax = new_figure()
    xs = [u.update + 1 for u in updates]
    totals = [sum(u.actions.values()) for u in updates]
    shares = {
        op: [100.0 * u.actions.get(op, 0) / t for u, t in zip(updates, totals, strict=True)]
        for op in ops
    }
    colors = [OP_COLORS.get(op) or OTHER_COLORS[i % len(OTHER_COLORS)] for i, op in enumerate(ops)]
    labels = [plain(op.lower(), 24) for op in ops]
    # Bars while each update still has room for one; a stacked area beyond.
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
    integer_x(ax, "update")
    ax.set_ylabel("share of actions (%)")
    fig.legend(loc="outside right upper", fontsize=8, title="operation", title_fontsize=8)
    return fig
