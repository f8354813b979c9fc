"""`WatchApp`: the Textual dashboard of ``esper watch``.

A bar of the runs it follows, then the panels as tabs: overview, curves, slots, decisions, PPO
(``esper train`` runs only) and envs. Every ``interval`` seconds each run's event log is polled
(`WatchedRun.poll`: a ``stat``, and a read of what was appended); the panel on screen is drawn
again only when its run took in events. A long log is replayed in slices of the tail's byte
limit, one slice per message-loop turn, so keys are answered while it loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static, TabbedContent, TabPane

from esper.watch.source import WatchedRun
from esper.watch.tui.help import HelpScreen
from esper.watch.views import PANELS, TRAIN_ONLY
from esper.watch.views.overview import overview_panel, run_status
from esper.watch.views.style import STATUS_STYLES

#: ``(id, title)`` of every panel, in tab order.
PANEL_TABS: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"),
    *((panel_id, title) for panel_id, title, _ in PANELS),
)
_VIEWS = {panel_id: view for panel_id, _, view in PANELS}


class WatchApp(App[None]):
    """Follows ``runs``; ``clock`` says how long ago a running run's last event came (tests
    and screenshots pass a fixed one)."""

    TITLE = "esper watch"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #runs { height: 1; padding: 0 1; background: $panel; }
    #panels { height: 1fr; }
    #panels ContentSwitcher, TabPane { height: 1fr; }
    TabPane { padding: 0 1; }
    .body { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help", key_display="?"),
        # Priority: tab would move the focus, left/right would switch tabs.
        Binding("tab", "panel(1)", "next panel", priority=True),
        Binding("shift+tab", "panel(-1)", "previous panel", priority=True, show=False),
        Binding("left", "run(-1)", "previous run", priority=True),
        Binding("right", "run(1)", "next run", priority=True),
        *(Binding(str(n), f"pick({n - 1})", f"run {n}", show=False) for n in range(1, 10)),
    ]

    def __init__(
        self,
        runs: list[WatchedRun],
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not runs:
            raise ValueError("WatchApp needs at least one run to watch")
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        super().__init__()
        self.runs = runs
        self.interval = interval
        self.clock = clock
        self.current = 0
        #: What each panel and the bar show now, and whether the PPO tab is shown: a poll that
        #: changed nothing draws nothing.
        self._drawn: dict[str, tuple[int, int, int, int]] = {}
        self._bar_key: tuple[object, ...] = ()
        self._train_tabs: bool | None = None
        # The widgets, found once mounted (`on_mount`).
        self._bodies: dict[str, Static] = {}
        self._scrolls: dict[str, VerticalScroll] = {}

    @property
    def watched(self) -> WatchedRun:
        """The run on screen."""
        return self.runs[self.current]

    def compose(self) -> ComposeResult:
        yield Static(id="runs")
        with TabbedContent(id="panels"):
            for panel_id, title in PANEL_TABS:
                with TabPane(title, id=panel_id), VerticalScroll(id=f"{panel_id}-scroll"):
                    yield Static(id=f"{panel_id}-body", classes="body")
        yield Footer()

    def on_mount(self) -> None:
        # Held, not queried each time: a query searches the screen on top (the help screen).
        self._bar = self.query_one("#runs", Static)
        self._tabs = self.query_one(TabbedContent)
        self._bodies = {p: self.query_one(f"#{p}-body", Static) for p, _ in PANEL_TABS}
        self._scrolls = {p: self.query_one(f"#{p}-scroll", VerticalScroll) for p, _ in PANEL_TABS}
        self.poll()
        self.set_interval(self.interval, self.poll)

    def poll(self) -> None:
        """Read what each run appended; redraw what changed."""
        for run in self.runs:
            run.poll()
        self.redraw()
        if any(run.more for run in self.runs):
            self.call_later(self.poll)

    # -- drawing -------------------------------------------------------------------------------

    def redraw(self) -> None:
        """Draw what changed since the last draw (a quiet poll draws nothing)."""
        self._draw_bar()
        training = self.watched.state.training
        if training != self._train_tabs:
            self._train_tabs = training
            for panel_id in TRAIN_ONLY:
                if training:
                    self._tabs.show_tab(panel_id)
                else:
                    self._tabs.hide_tab(panel_id)
            if self._tabs.active in TRAIN_ONLY and not training:
                self._tabs.active = "overview"
        self._draw_panel(self._tabs.active or "overview")

    def _draw_bar(self) -> None:
        shown = [(run_status(r.state), r.state.overview.command or "?") for r in self.runs]
        key = (self.current, tuple(shown))
        if key == self._bar_key:
            return
        self._bar_key = key
        bar = Text()
        for index, (run, (status, command)) in enumerate(zip(self.runs, shown, strict=True)):
            base = "reverse bold" if index == self.current else ""
            bar.append(f" {index + 1} {run.name} \u00b7 {command} \u00b7 ", style=base)
            bar.append(status, style=f"{base} {STATUS_STYLES.get(status, 'red')}".strip())
            bar.append(" ", style=base)
            bar.append(" ")
        self._bar.update(bar)

    def _draw_panel(self, panel_id: str) -> None:
        state = self.watched.state
        now = self.clock()
        # The overview of a running run says how long ago its last event came: it changes
        # with the clock too, drawn at most once a second.
        tick = int(now) if panel_id == "overview" and run_status(state) == "running" else 0
        key = (self.current, id(state), state.version, tick)
        drawn = self._drawn.get(panel_id)
        if drawn == key:
            return
        self._drawn[panel_id] = key
        scroll = self._scrolls[panel_id]
        # Another run (or a restarted log) opens at the end; a reader who scrolled up stays.
        follow = drawn is None or drawn[:2] != key[:2] or scroll.is_vertical_scroll_end
        if panel_id == "overview":
            body = overview_panel(state, self.watched.name, now=now)
        else:
            body = _VIEWS[panel_id](state)
        self._bodies[panel_id].update(body)
        if follow and panel_id == "decisions":
            # The log reads newest last: stay at its end while it grows.
            self.call_after_refresh(scroll.scroll_end, animate=False)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        panel_id = event.pane.id or "overview"
        if panel_id not in self._bodies:
            return  # the first tab, activated before the app is mounted
        self._draw_panel(panel_id)
        self._scrolls[panel_id].focus()

    # -- keys ----------------------------------------------------------------------------------

    def action_panel(self, step: int) -> None:
        tabs = self._tabs
        training = self.watched.state.training
        order = [p for p, _ in PANEL_TABS if training or p not in TRAIN_ONLY]
        at = order.index(tabs.active) if tabs.active in order else 0
        tabs.active = order[(at + step) % len(order)]

    def action_run(self, step: int) -> None:
        self.action_pick((self.current + step) % len(self.runs))

    def action_pick(self, index: int) -> None:
        if 0 <= index < len(self.runs) and index != self.current:
            self.current = index
            self._drawn.clear()
            self.redraw()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
