"""Save a screenshot of every screen of ``esper watch`` into docs/images/watch-<screen>.svg.

The screens are drawn by the app itself, headless (Textual's ``run_test``), from the fixture
runs the snapshot tests use (``tests/support/watchscreens.py``: fixed timestamps, run ids and
clock), so docs/watch.md shows what the tests check. Run it after a change to the dashboard:

    python tools/watch_screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
sys.path.insert(0, str(ROOT / "tests"))

from support.watchscreens import SCREENS, SIZE, dashboard  # noqa: E402


async def save(screen: str, keys: tuple[str, ...], root: Path) -> Path:
    app = dashboard(root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        name = f"watch-{screen}.svg"
        app.save_screenshot(name, str(OUT))
    return OUT / name


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for screen, keys in SCREENS.items():
        with tempfile.TemporaryDirectory() as tmp:
            path = asyncio.run(save(screen, keys, Path(tmp)))
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
