"""Which run directories ``esper watch`` follows, from its arguments.

Each argument is a run directory (it holds a file a run writes: ``config.toml``,
``events.jsonl``, ...) or a directory of runs, which stands for its newest ``last`` runs (run
ids begin with the date and time, so the newest sort last, as ``esper runs list`` lists them).
No argument means the directory of runs, ``runs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from esper.rundir import layout
from esper.watch.errors import WatchError

#: Where ``esper run`` and ``esper train`` put their runs unless told otherwise.
RUNS_ROOT = Path("runs")


def run_dirs(args: Sequence[Path], *, last: int = 1, root: Path = RUNS_ROOT) -> list[Path]:
    """The run directories to watch, each once, in the order given."""
    if last < 1:
        raise WatchError(f"--last must be at least 1, got {last}")
    found: dict[Path, None] = {}
    for arg in args or [root]:
        for path in _expand(arg, last):
            found.setdefault(path, None)
    return list(found)


def _expand(path: Path, last: int) -> list[Path]:
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise WatchError(f"{path}: {what} (give a run directory or a directory of runs)")
    if layout.is_run_dir(path):
        return [path]
    try:
        runs = sorted(p for p in path.iterdir() if layout.is_run_dir(p))
    except OSError as exc:
        raise WatchError(f"{path}: cannot list: {exc.strerror or exc}") from None
    if not runs:
        names = ", ".join((layout.CONFIG, layout.EVENTS))
        raise WatchError(
            f"{path}: not a run directory (none of {names}, ...) and holds no run directory"
        )
    return runs[-last:]
