"""The dashboard driven headless with Textual's pilot: keys, a live log, real runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

pytest.importorskip("textual")

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Static, TabbedContent

from esper.watch.source import WatchedRun
from esper.watch.tui.app import WatchApp
from esper.watch.tui.help import HelpScreen

from support.watchruns import (
    RUN_ID,
    T0,
    TRAIN_ID,
    growth_events,
    train_events,
    write_events,
)

SIZE = (100, 34)


def drive(app: WatchApp, scenario: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


def shown(app: WatchApp, panel: str) -> str:
    """The text of one panel as drawn (all of it, scrolled out of view or not), each run of
    spaces made one."""
    body = app.query_one(f"#{panel}-body", Static)
    width, height = body.size
    lines = [strip.text for strip in body.render_lines(Region(0, 0, width, height))]
    return "\n".join(" ".join(line.split()) for line in lines)


def active(app: WatchApp) -> str:
    return str(app.query_one(TabbedContent).active)


@pytest.fixture
def two_runs(tmp_path: Path) -> list[WatchedRun]:
    write_events(tmp_path / RUN_ID, growth_events(finished=True))
    write_events(tmp_path / TRAIN_ID, train_events(finished=True))
    return [WatchedRun(tmp_path / RUN_ID), WatchedRun(tmp_path / TRAIN_ID)]


def test_keys_move_between_panels_and_runs(two_runs: list[WatchedRun]) -> None:
    app = WatchApp(two_runs, clock=lambda: T0)

    async def scenario(pilot: Pilot[None]) -> None:
        assert (app.current, active(app)) == (0, "overview")
        await pilot.press("tab")
        assert active(app) == "curves"
        await pilot.press("shift+tab", "shift+tab")
        assert active(app) == "envs"  # round the end; esper run has no PPO panel
        await pilot.press("right")
        assert app.current == 1
        assert "env0" in shown(app, "envs")
        await pilot.press("shift+tab")
        assert active(app) == "ppo"
        assert "update 3 / 3" in shown(app, "ppo")
        await pilot.press("1")  # back to esper run: its PPO tab is hidden, the overview shows
        assert (app.current, active(app)) == (0, "overview")
        assert "epoch 24 / 24" in shown(app, "overview")
        await pilot.press("left")
        assert app.current == 1
        await pilot.press("left", "9")  # wraps round; a run that does not exist: no change
        assert app.current == 0
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        assert app.return_code == 0

    drive(app, scenario)


def test_the_screen_follows_events_appended_to_a_live_log(tmp_path: Path) -> None:
    run_dir = tmp_path / RUN_ID
    (run_dir).mkdir()
    (run_dir / "config.toml").write_text('[run]\nepochs = 24\n[task]\nname = "t:image"\n')
    app = WatchApp([WatchedRun(run_dir)], interval=0.05, clock=lambda: T0 + 100)
    events = growth_events()
    lines = [json.dumps(e) + "\n" for e in events]
    first = next(i for i, e in enumerate(events) if e["epoch"] == 9)  # epochs 1-8

    async def scenario(pilot: Pilot[None]) -> None:
        assert "waiting" in shown(app, "overview")
        assert "epochs 24" in shown(app, "overview")  # from config.toml
        path = run_dir / "events.jsonl"
        # Epochs 1-8 and half of the next line: the half line waits for its end.
        path.write_text("".join(lines[:first]) + lines[first][:30], encoding="utf-8")
        await pilot.pause(0.3)
        assert app.watched.state.overview.epoch == 8
        overview = shown(app, "overview")
        assert "running" in overview
        assert "epoch 8 / 24" in overview
        assert "last event 12.0 s ago" in overview  # the injected clock, 12 s after epoch 8
        await pilot.press("tab", "tab")
        assert "grown · epoch 8 · 1 of 6 slots held a seed" in shown(app, "slots")
        with path.open("a", encoding="utf-8") as fh:
            fh.write(lines[first][30:] + "".join(lines[first:][1:]))
        await pilot.pause(0.3)
        slots = shown(app, "slots")
        assert "grown · epoch 24 · 3 of 6 slots held a seed" in slots
        assert "FOSSILIZED \u03b1 1.00" in slots
        await pilot.press("tab")
        assert "ROLLBACK: governor_divergence" in shown(app, "decisions")
        assert app.watched.state.problem_count == 0

    drive(app, scenario)


# -- real runs -----------------------------------------------------------------------------------


def _tree(path: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*"))}  # fmt: skip


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny esper run and a tiny esper train, made side by side (two processes)."""
    from support.tinyruns import GROWTH, TRAIN, finish, only_run_dir, spawn

    outs = {"run": tmp_path_factory.mktemp("run"), "train": tmp_path_factory.mktemp("train")}
    procs = {
        "run": spawn([*GROWTH, "--out", str(outs["run"])]),
        "train": spawn([*TRAIN, "--out", str(outs["train"])]),
    }
    for proc in procs.values():
        code, _, err = finish(proc)
        assert code == 0, err
    return {name: only_run_dir(out) for name, out in outs.items()}


def test_a_real_esper_run_replays_in_every_panel(real_runs: dict[str, Path]) -> None:
    run_dir = real_runs["run"]
    before = _tree(run_dir)
    app = WatchApp([WatchedRun(run_dir)], clock=lambda: 0.0)

    async def scenario(pilot: Pilot[None]) -> None:
        overview = shown(app, "overview")
        assert "(esper run)" in overview
        assert "finished" in overview
        assert "epoch 6 / 6" in overview
        await pilot.press("tab")
        assert "grown" in shown(app, "curves")
        assert "static" in shown(app, "curves")
        await pilot.press("tab")
        slots = shown(app, "slots")
        assert "grown · epoch 6 · 1 of" in slots
        assert "static · epoch 6 · 0 of" in slots
        await pilot.press("tab")
        assert "GERMINATE r" in shown(app, "decisions")
        await pilot.press("tab")
        assert active(app) == "envs"
        assert "static" in shown(app, "envs")

    drive(app, scenario)
    assert app.watched.state.problem_count == 0
    assert _tree(run_dir) == before  # nothing written, nothing touched


def test_a_real_esper_train_shows_the_ppo_and_environment_panels(
    real_runs: dict[str, Path],
) -> None:
    run_dir = real_runs["train"]
    before = _tree(run_dir)
    app = WatchApp([WatchedRun(run_dir)], clock=lambda: 0.0)

    async def scenario(pilot: Pilot[None]) -> None:
        assert "update 4 / 4 (8 episodes)" in shown(app, "overview")
        await pilot.press("shift+tab", "shift+tab")
        assert active(app) == "ppo"
        ppo = shown(app, "ppo")
        for figure in ("mean reward", "approx. KL", "clip fraction", "explained var.",
                       "entropy op", "entropy blueprint", "action mix (update 4)"):  # fmt: skip
            assert figure in ppo, figure
        await pilot.press("tab")
        envs = shown(app, "envs")
        assert "env0" in envs
        assert "env1" in envs

    drive(app, scenario)
    assert app.watched.state.problem_count == 0
    assert _tree(run_dir) == before
