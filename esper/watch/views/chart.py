"""`LineChart`: a Rich renderable that draws series in braille to the width it is given."""

from __future__ import annotations

import math

import attrs
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from esper.watch.views.braille import Canvas
from esper.watch.views.fmt import num


@attrs.frozen
class Series:
    label: str
    values: list[float]
    color: str


@attrs.frozen
class LineChart:
    """Series over a shared x axis (point ``i`` of every series at the same x), a y scale on
    the left, the first and last x labels below and a legend with each series' last value."""

    title: str
    series: list[Series]
    height: int = 6
    #: Labels under the first and the last x position.
    x_labels: tuple[str, str] = ("", "")
    spec: str = ".4g"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.title, style="bold")
        finite = [v for s in self.series for v in s.values if math.isfinite(v)]
        if not finite:
            yield Text("  no points yet", style="dim")
            return
        low, high = min(finite), max(finite)
        top, bottom = num(high, self.spec), num(low, self.spec)
        label_width = max(len(top), len(bottom))
        plot_width = max(1, options.max_width - label_width - 2)
        canvas = Canvas(plot_width, self.height)
        span = max(len(s.values) for s in self.series)
        for index, series in enumerate(self.series):
            canvas.plot(series.values, low, high, index, span=span)
        for r, row in enumerate(canvas.rows()):
            label = top if r == 0 else bottom if r == self.height - 1 else ""
            line = Text(label.rjust(label_width) + (" \u2524" if label else " \u2502"))
            for char, owner in row:
                line.append(char, style=self.series[owner].color if owner is not None else "")
            yield line
        yield Text(" " * label_width + " \u2514" + "\u2500" * plot_width, style="dim")
        first, last = self.x_labels
        gap = max(1, plot_width - len(first) - len(last))
        yield Text(" " * (label_width + 2) + first + " " * gap + last, style="dim")
        legend = Text(" " * (label_width + 2))
        for series in self.series:
            finite_values = [v for v in series.values if math.isfinite(v)]
            latest = num(finite_values[-1], self.spec) if finite_values else "-"
            legend.append("\u25a0 ", style=series.color)
            legend.append(f"{series.label} {latest}   ")
        yield legend
