"""``esper watch``: follow runs live in a terminal dashboard, from their event logs.

textual is an optional dependency (the ``watch`` extra), imported only when the dashboard
starts; ``--once`` prints the panels as text without it. Neither reads more than the run
directories' files, and neither writes to them.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("watch")
@click.argument("run_dirs", nargs=-1, metavar="[RUN_DIR ...]", type=click.Path(path_type=Path))
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1, max=3600),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How often the event logs are read for new events.",
)
@click.option(
    "--last",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="How many of its newest runs a directory of runs stands for.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Print every panel of each run once, as text, and exit (needs no textual).",
)
def watch(run_dirs: tuple[Path, ...], interval: float, last: int, once: bool) -> None:
    """Follow runs of esper run / esper train live: curves per arm, slot swimlanes, the
    controller's decisions, the governor's rollbacks and, for esper train, the PPO figures
    and each environment's status. A finished run is replayed.

    Each RUN_DIR is a run directory or a directory of runs (its newest --last runs); none
    means the newest run in ./runs. Keys: tab / shift+tab switch panels, left / right or 1-9
    switch runs, ? shows help, q quits. It only reads the runs' files: it never writes to a
    run directory and never slows the run it watches.
    """
    from esper.watch.errors import TEXTUAL_MISSING, WatchError
    from esper.watch.locate import run_dirs as locate
    from esper.watch.source import WatchedRun

    if not once:
        try:
            import textual  # noqa: F401
        except ImportError:
            raise WatchError(TEXTUAL_MISSING) from None
    runs = [WatchedRun(path) for path in locate(run_dirs, last=last)]
    if once:
        from esper.watch.views.printing import print_runs

        print_runs(runs)
        return
    from esper.watch.tui.app import WatchApp

    WatchApp(runs, interval=interval).run()
