"""Writing a chart to files: PNG rendered by Agg and SVG by matplotlib's SVG backend.

Both files are reproducible: the same figure gives the same bytes, so a report made twice
differs only in its page's date.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from esper.report.charts.style import DPI


def save_figure(fig: Figure, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.svg`` under ``directory``."""
    png, svg = directory / f"{stem}.png", directory / f"{stem}.svg"
    # A fixed hash salt and no date make the SVG files reproducible.
    with matplotlib.rc_context({"svg.hashsalt": "esper", "svg.fonttype": "path"}):
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None})
    return png, svg
