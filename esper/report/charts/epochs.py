"""The per-epoch line charts of ``esper run``: accuracy, loss and parameters of every arm."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from matplotlib.figure import Figure

from esper.report.charts.style import arm_color, integer_x, new_figure, plain, thousands
from esper.report.records import EpochPoint, RunData

ROLLBACK_COLOR = "#d62728"


def _ordered_arms(run: RunData) -> list[str]:
    """The arms of ``run`` in drawing order: static, grown, then the others as they appear."""
    # Static first: it is the baseline the grown arm is read against.
    arms = run.arms()
    return sorted(arms, key=lambda a: (a != "static", a != "grown", arms.index(a)))


def _series(points: Sequence[EpochPoint], value: Callable[[EpochPoint], float]) -> list[float]:
    return [value(p) for p in points]


def accuracy_chart(run: RunData) -> Figure | None:
    """Validation accuracy per epoch of every arm, with governor rollbacks marked."""
    if not run.epochs:
        return None
    fig, ax = new_figure()
    for i, arm in enumerate(_ordered_arms(run)):
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
        ax.axvline(rb.epoch, color=ROLLBACK_COLOR, ls=":", lw=1.2)
        match = [p for p in run.epochs if p.arm == rb.arm and p.epoch == rb.epoch]
        if match:
            ax.plot(
                [rb.epoch],
                [match[0].val_accuracy],
                marker="v",
                markersize=9,
                color=ROLLBACK_COLOR,
                ls="none",
                label=None if labelled else "governor rollback",
            )
            labelled = True
    if run.rollbacks and not labelled:
        ax.plot([], [], color=ROLLBACK_COLOR, ls=":", label="governor rollback")
    integer_x(ax, "epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend(loc="best", fontsize=9)
    return fig


def loss_chart(run: RunData) -> Figure | None:
    """Validation loss (solid) and training loss (dashed) per epoch of every arm."""
    if not run.epochs:
        return None
    fig, ax = new_figure()
    for i, arm in enumerate(_ordered_arms(run)):
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
    integer_x(ax, "epoch")
    ax.set_ylabel("loss")
    ax.legend(loc="upper right", fontsize=9, ncol=2)
    return fig


def params_chart(run: RunData) -> Figure | None:
    """Total parameters (host, live seeds and fossilized seeds) per epoch of every arm."""
    if not run.epochs:
        return None
    fig, ax = new_figure(3.0)
    for i, arm in enumerate(_ordered_arms(run)):
        points = run.arm_epochs(arm)
        ax.plot(
            [p.epoch for p in points],
            _series(points, lambda p: float(p.params_total)),
            drawstyle="steps-post",
            lw=2 if arm == "grown" else 1.5,
            color=arm_color(arm, i),
            label=plain(arm, 30),
        )
    integer_x(ax, "epoch")
    thousands(ax)
    ax.set_ylabel("parameters")
    ax.legend(loc="upper left", fontsize=9)
    return fig
