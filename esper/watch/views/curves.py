"""The curves panel: validation accuracy and loss of every arm (or environment), per epoch."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from esper.watch.model import RunState
from esper.watch.views.chart import LineChart, Series
from esper.watch.views.style import arm_color

#: Arms drawn at most (esper train may have many environments; the others are counted).
MAX_ARMS = 8
#: ``(EpochPoint field, title, number format)`` of each chart.
METRICS = (
    ("val_accuracy", "validation accuracy (%)", ".2f"),
    ("val_loss", "validation loss", ".4f"),
)


def curves_panel(state: RunState, *, height: int = 6) -> RenderableType:
    arms = state.arms()
    if not arms:
        return Text("no epoch has ended yet", style="dim")
    shown = arms[:MAX_ARMS]
    span = max(len(state.curves.arms[arm]) for arm in shown)
    if state.training:
        x_labels = ("", f"last {span} epochs, across episodes")
    else:
        epochs = [p.epoch for arm in shown for p in state.curves.arms[arm]]
        x_labels = (f"epoch {min(epochs)}", f"epoch {max(epochs)}")
    parts: list[RenderableType] = []
    for metric, title, spec in METRICS:
        series = [
            Series(arm, state.curves.values(arm, metric), arm_color(arm, i))
            for i, arm in enumerate(shown)
        ]
        parts.append(LineChart(title, series, height=height, x_labels=x_labels, spec=spec))
    if len(arms) > len(shown):
        parts.append(Text(f"{len(arms) - len(shown)} more arms not drawn", style="dim"))
    return Group(*parts)
