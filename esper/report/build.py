"""Write a report directory: ``index.html`` and ``charts/<name>.png`` / ``.svg``.

A report is of run directories (``esper run``, ``esper train``: one page, a section each) or
of one evaluation directory (``esper eval``: its own page); the two do not mix on one page.
matplotlib is imported only here (through `esper.report.charts`), when a report is written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from esper.report.data import ReportError, RunData, load_run
from esper.report.evaluation import is_eval_dir, load_evaluation
from esper.report.evaluation_page import render_eval_page
from esper.report.html import RenderedChart, RunSection, render_page
from esper.rundir import layout

if TYPE_CHECKING:
    # Only for annotations: importing the charts imports matplotlib.
    from esper.report.charts import ChartSpec

CHARTS_DIR = "charts"
INDEX_NAME = "index.html"
#: Chart files this module writes; others in ``charts/`` are never touched.
_OWN_CHART = re.compile(r"(run\d+-[a-z-]+|compare-[a-z-]+|eval-[a-z-]+)\.(png|svg)")
MATPLOTLIB_MISSING = (
    "esper report needs matplotlib, a dependency of esper-nn that is missing from this "
    "environment: pip install matplotlib"
)


def default_out(run_dirs: Sequence[Path]) -> Path:
    """``RUN_DIR/report`` for one run, ``FIRST_RUN_DIR/report-compare`` for several."""
    return run_dirs[0] / (layout.REPORT if len(run_dirs) == 1 else layout.COMPARE)


def require_matplotlib() -> None:
    """Raise `ReportError` with the install hint when matplotlib cannot be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError(MATPLOTLIB_MISSING) from None


def write_report(run_dirs: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """Read every run directory, draw its charts and write the report; returns ``index.html``.

    One evaluation directory instead of run directories gives its page (`write_eval_report`).
    All directories are read (and checked) before anything is written.
    """
    if not run_dirs:
        raise ReportError("no run directory given")
    paths = [Path(d) for d in run_dirs]
    evals = [p for p in paths if is_eval_dir(p)]
    if evals:
        if len(paths) > 1:
            raise ReportError(
                f"{evals[0]}: an evaluation directory is reported on its own (not with other "
                f"directories): esper report {evals[0]}"
            )
        return write_eval_report(evals[0], out)
    runs: list[RunData] = [load_run(d) for d in paths]
    require_matplotlib()
    from esper import __version__
    from esper.report import charts

    out_dir = Path(out) if out is not None else default_out([r.path for r in runs])
    files = _ChartFiles(_make_chart_dir(out_dir))
    sections = [
        RunSection(
            index=i,
            run=run,
            charts=[files.render(spec, f"run{i}-{spec.slug}") for spec in charts.run_charts(run)],
        )
        for i, run in enumerate(runs, start=1)
    ]
    comparison = None
    if len(runs) > 1:
        comparison = files.render(charts.comparison_spec(runs), "compare-accuracy")
    files.remove_stale()
    page = render_page(
        sections,
        comparison,
        generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        version=__version__,
    )
    return _write_index(out_dir, page)


def write_eval_report(eval_dir: str | Path, out: str | Path | None = None) -> Path:
    """Read an evaluation directory of ``esper eval``, draw its charts and write its page
    (default ``EVAL_DIR/report``); returns ``index.html``."""
    evaluation = load_evaluation(eval_dir)
    require_matplotlib()
    from esper import __version__
    from esper.report import charts

    out_dir = Path(out) if out is not None else evaluation.path / layout.REPORT
    files = _ChartFiles(_make_chart_dir(out_dir))
    rendered = [
        files.render(spec, f"eval-{spec.slug}") for spec in charts.evaluation_charts(evaluation)
    ]
    files.remove_stale()
    page = render_eval_page(
        evaluation, rendered, generated=time.strftime("%Y-%m-%d %H:%M:%S"), version=__version__
    )
    return _write_index(out_dir, page)


def _make_chart_dir(out_dir: Path) -> Path:
    """Create ``out_dir/charts`` (and ``out_dir``) unless it is there; returns it."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir}: report output exists and is not a directory")
    chart_dir = out_dir / CHARTS_DIR
    try:
        chart_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"{chart_dir}: cannot create: {exc.strerror or exc}") from None
    return chart_dir


class _ChartFiles:
    """The chart files of one report: writes each chart, then removes those of an earlier one."""

    def __init__(self, chart_dir: Path) -> None:
        self.chart_dir = chart_dir
        #: Names of the files this report wrote.
        self.written: set[str] = set()

    def render(self, spec: ChartSpec, stem: str) -> RenderedChart:
        """Save ``spec``'s figure as ``stem.png`` and ``stem.svg``; the page's view of it."""
        if spec.figure is None:
            return RenderedChart(
                title=spec.title, caption=spec.caption, png=None, svg=None, empty=spec.empty
            )
        from esper.report.charts import save_figure

        png, svg = save_figure(spec.figure, self.chart_dir, stem)
        self.written.update((png.name, svg.name))
        return RenderedChart(
            title=spec.title,
            caption=spec.caption,
            png=f"{CHARTS_DIR}/{png.name}",
            svg=f"{CHARTS_DIR}/{svg.name}",
        )

    def remove_stale(self) -> None:
        """Delete the charts of an earlier report in the same place that this one did not draw
        (they would linger); files that are not a report's charts are never touched."""
        for stale in self.chart_dir.iterdir():
            if _OWN_CHART.fullmatch(stale.name) and stale.name not in self.written:
                stale.unlink()


def _write_index(out_dir: Path, page: str) -> Path:
    """Write the page as ``out_dir/index.html``; returns its path."""
    index = out_dir / INDEX_NAME
    # A plain write (not esper.rundir.atomic's, whose temporary files are private): the report is
    # meant to be shared, so it gets the usual permissions.
    try:
        index.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{index}: cannot write: {exc.strerror or exc}") from None
    return index
