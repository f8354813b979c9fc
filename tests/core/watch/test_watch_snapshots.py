"""Every screen of ``esper watch`` against its snapshot (``__snapshots__``; regenerate with
``pytest tests/core/watch/test_watch_snapshots.py --snapshot-update`` after a deliberate change,
and look at each SVG before committing it).

The fixture runs have fixed timestamps and run ids and the app a fixed clock, so the screens
are the same on every machine, for the textual release the test extra pins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("textual")
pytest.importorskip("pytest_textual_snapshot")

from support.watchscreens import SCREENS, SIZE, dashboard


@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(screen: str, snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(dashboard(tmp_path), press=SCREENS[screen], terminal_size=SIZE)
