"""What every chart of the report shares: sizes, colours, safe text and the blank figure (the
colours of stages and operations, which ``esper watch`` draws too, are in `esper.report.palette`).

Figures are made with `matplotlib.figure.Figure` on an Agg canvas directly (never pyplot), so
no GUI backend and no global figure state are involved. Strings from run directories go through
`plain` before they reach matplotlib, so a ``$`` in a name is drawn as it is rather than parsed
as mathtext.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

WIDTH, HEIGHT = 8.0, 3.6
DPI = 100

ARM_COLORS = {"static": "#7f7f7f", "grown": "#1f77b4", "train": "#2ca02c"}
#: Legend labels of arms whose name alone would not say what the bar is.
ARM_LABELS = {"train": "esper train\n(last update)"}
#: Colours of arms and operations that have no fixed one, in turn.
OTHER_COLORS = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728")


def plain(text: str, limit: int | None = None) -> str:
    """``text`` made safe for matplotlib text (no mathtext), shortened to ``limit`` characters."""
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")


def arm_color(arm: str, index: int = 0) -> str:
    """The colour of an arm: fixed for static, grown and train, else from a cycle."""
    return ARM_COLORS.get(arm) or OTHER_COLORS[index % len(OTHER_COLORS)]


def new_figure(height: float = HEIGHT) -> tuple[Figure, Axes]:
    """A blank chart of the report's width: one axes with a light grid, no top or right spine."""
    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # headless raster canvas; no GUI backend is ever selected
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def integer_x(ax: Axes, label: str) -> None:
    """Label the x axis and tick it at whole numbers (epochs, updates)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)


def thousands(ax: Axes) -> None:
    """Write the y axis' numbers with thousands separators (parameter counts)."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
