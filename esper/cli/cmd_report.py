"""``esper report``: an HTML report with charts of run directories or of an evaluation directory.

matplotlib is imported only when the command runs (it is an optional dependency: the
``plots`` extra), never at ``esper --help``.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    metavar="RUN_DIR...|EVAL_DIR",
    type=click.Path(path_type=Path),
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Where to write the report [default: RUN_DIR/report for one run, "
    "FIRST_RUN_DIR/report-compare for several, EVAL_DIR/report for an evaluation].",
)
def report(run_dirs: tuple[Path, ...], out: Path | None) -> None:
    """Write an HTML report (index.html and PNG/SVG charts) of esper run / esper train runs,
    or of an esper eval evaluation.

    Several RUN_DIRs give one page with a section per run and a chart comparing their final
    accuracies. An EVAL_DIR (a directory of esper eval, with eval.json) gives its own page:
    the controllers and paired-differences tables, each seed's final metric, the metric
    against training FLOPs and the paired differences; it is reported on its own, not with
    other directories. The report directory is self-contained: copy or archive it as it is.
    """
    from esper.report.build import write_report

    index = write_report(list(run_dirs), out)
    click.echo(f"report: {index}")
