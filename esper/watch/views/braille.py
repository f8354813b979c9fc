"""Line charts in braille characters: each character cell holds 2 x 4 dots.

`Canvas` knows nothing of terminals or colours: it records which dots are set and which series
set each cell last, and the chart view turns that into styled text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Bit of the dot at (column, row) of a cell, rows counted from the top (Unicode's numbering).
_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
BLANK = "\u2800"


class Canvas:
    """``width`` x ``height`` character cells; dot (0, 0) is the bottom left."""

    def __init__(self, width: int, height: int) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"a canvas needs at least one cell, got {width} x {height}")
        self.width, self.height = width, height
        self._masks = [[0] * width for _ in range(height)]
        self._owners: list[list[int | None]] = [[None] * width for _ in range(height)]

    @property
    def dots_x(self) -> int:
        return 2 * self.width

    @property
    def dots_y(self) -> int:
        return 4 * self.height

    def dot(self, x: int, y: int, series: int) -> None:
        """Set one dot (ignored outside the canvas)."""
        if not (0 <= x < self.dots_x and 0 <= y < self.dots_y):
            return
        row = self.height - 1 - y // 4
        col = x // 2
        self._masks[row][col] |= _BITS[x % 2][3 - y % 4]
        self._owners[row][col] = series

    def plot(
        self,
        values: Sequence[float],
        low: float,
        high: float,
        series: int,
        *,
        span: int | None = None,
    ) -> None:
        """``values`` scaled from ``low`` (bottom) to ``high`` (top), consecutive points
        joined; a non-finite value breaks the line. The full width holds ``span`` points
        (default: as many as there are values), so a shorter series ends further left."""
        n = max(span or 0, len(values))
        previous: tuple[int, int] | None = None
        for i, value in enumerate(values):
            if not math.isfinite(value):
                previous = None
                continue
            x = 0 if n == 1 else round(i * (self.dots_x - 1) / (n - 1))
            y = self._scale(value, low, high)
            if previous is None:
                self.dot(x, y, series)
            else:
                self._join(previous, (x, y), series)
            previous = (x, y)

    def _scale(self, value: float, low: float, high: float) -> int:
        if high <= low:
            return self.dots_y // 2
        share = (min(max(value, low), high) - low) / (high - low)
        return round(share * (self.dots_y - 1))

    def _join(self, a: tuple[int, int], b: tuple[int, int], series: int) -> None:
        (x0, y0), (x1, y1) = a, b
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for step in range(steps + 1):
            t = step / steps
            self.dot(round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t), series)

    def rows(self) -> list[list[tuple[str, int | None]]]:
        """Each row, top first, as ``(character, series that drew last there or None)``."""
        return [
            [(chr(0x2800 + mask), owner) for mask, owner in zip(masks, owners, strict=True)]
            for masks, owners in zip(self._masks, self._owners, strict=True)
        ]


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as block characters from ``▁`` to ``█`` (blank: not finite)."""
    blocks = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
    shown = list(values)[-width:] if width > 0 else []
    finite = [v for v in shown if math.isfinite(v)]
    if not finite:
        return " " * len(shown)
    low, high = min(finite), max(finite)
    out = []
    for value in shown:
        if not math.isfinite(value):
            out.append(" ")
        elif high <= low:
            out.append(blocks[3])
        else:
            out.append(blocks[round((value - low) / (high - low) * (len(blocks) - 1))])
    return "".join(out)
