"""The help screen: the keys of the dashboard (``?``)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

#: ``(keys, what they do)``, as docs/watch.md lists them.
KEYS = (
    ("tab / shift+tab", "next / previous panel"),
    ("left / right", "previous / next run"),
    ("1 ... 9", "run 1 ... 9"),
    ("up / down, pgup / pgdn", "scroll the panel"),
    ("home / end", "top / bottom of the panel (end follows new lines)"),
    ("?", "this help (escape closes it)"),
    ("q", "quit"),
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 80; height: auto; padding: 1 2; border: round $accent; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "close"),
        Binding("question_mark", "close", "close", show=False),
        Binding("q", "close", "close", show=False),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 3))
        table.add_column(style="bold")
        table.add_column()
        for keys, what in KEYS:
            table.add_row(keys, what)
        with Vertical():
            yield Static("esper watch: keys\n", classes="title")
            yield Static(table)
            yield Static(
                "\nIt reads the run directories' events.jsonl only (read-only, polling);"
                "\nthe runs it watches never wait on it."
            )

    def action_close(self) -> None:
        self.dismiss(None)
