"""``esper bench``: run the benchmark suite and write bench.json / bench.md.

Registered as a plugin command by `esper_bench.plugin`; the suite (and torch) is imported only
when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("names", nargs=-1)
@click.option("--quick", is_flag=True, help="Fewer repeats (for smoke runs; numbers are noisier).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-results"),
    show_default=True,
    help="Directory for bench.json and bench.md.",
)
@click.option(
    "--docs",
    "docs_page",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Also write the table into this markdown page (between its bench-table markers) "
    "and the JSON beside it.",
)
@click.option("--list", "list_only", is_flag=True, help="List the benchmarks and exit.")
def bench(
    names: tuple[str, ...], quick: bool, out_dir: Path, docs_page: Path | None, list_only: bool
) -> None:
    """Run benchmarks (all by default) and write their figures as JSON and markdown."""
    from esper_bench import suite

    if list_only:
        for name in suite.available():
            click.echo(name)
        return
    suite.available()
    report = suite.run(names or None, quick=quick)
    json_path, md_path = suite.write(report, out_dir)
    click.echo(suite.to_markdown(report))
    click.echo(f"wrote {json_path} and {md_path}", err=True)
    if docs_page is not None:
        docs_json = suite.update_docs(report, docs_page)
        click.echo(f"wrote the table into {docs_page} and {docs_json}", err=True)
