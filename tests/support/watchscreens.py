"""The screens of ``esper watch`` that are snapshot-tested and shown in docs/watch.md.

`dashboard` writes the fixture runs of `support.watchruns` (the growth run still running at
epoch 24, the training run finished) and returns the app on them with a fixed clock; `SCREENS`
names each screen and the keys that reach it. ``tests/core/watch/test_watch_snapshots.py``
compares them with their snapshots; ``tools/watch_screenshots.py`` saves them for the docs.
"""

from __future__ import annotations

from pathlib import Path

from esper.watch.source import WatchedRun
from esper.watch.tui.app import WatchApp

from support.watchruns import RUN_ID, T0, TRAIN_ID, growth_events, train_events, write_events

#: Terminal size (columns, rows) of every screenshot.
SIZE = (100, 32)
#: Screen name -> keys pressed from the start (run 1, the overview).
SCREENS: dict[str, tuple[str, ...]] = {
    "run-overview": (),
    "run-curves": ("tab",),
    "run-slots": ("tab", "tab"),
    "run-decisions": ("tab", "tab", "tab"),
    "run-envs": ("shift+tab",),
    "train-overview": ("right",),
    "train-curves": ("right", "tab"),
    "train-slots": ("right", "tab", "tab"),
    "train-decisions": ("right", "tab", "tab", "tab"),
    "train-ppo": ("right", "shift+tab", "shift+tab"),
    "train-envs": ("right", "shift+tab"),
    "help": ("question_mark",),
}


def dashboard(root: Path) -> WatchApp:
    """The app following both fixture runs, written under ``root``; its clock is 12 s after
    the growth run's last event."""
    write_events(root / RUN_ID, growth_events())
    write_events(root / TRAIN_ID, train_events(finished=True))
    runs = [WatchedRun(root / RUN_ID), WatchedRun(root / TRAIN_ID)]
    return WatchApp(runs, clock=lambda: T0 + 260.0)
