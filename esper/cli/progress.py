"""Progress output of ``esper run`` and ``esper train``.

Three modes, chosen once when the progress object is made:

- **quiet** (``--quiet``): nothing; the command prints only its final table or line;
- **lines** (stderr is not a terminal: a log file, CI, a pipe): one plain line per epoch for
  ``esper run`` and one per update for ``esper train``, on stderr;
- **live** (stderr is a terminal): a rich Live display on stderr, redrawn in place: epoch (and
  update and environment for ``esper train``), loss, accuracy or perplexity, each slot's stage,
  the last action, elapsed time and an ETA. ``esper train`` also prints each update's line above
  it.

The progress objects only read the attributes of the epoch results they are given
(``epoch``, ``val_loss``, ``val_accuracy``, ``rolled_back``, ``action``, ``action_ok``,
``signals.slots`` and, when present, ``stages_after`` / ``alphas_after``), so tests drive them
with plain stand-ins. Nothing here imports torch.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs
import click

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

#: Rich style of each lifecycle stage in the live display.
STAGE_STYLES = {
    "DORMANT": "dim",
    "GERMINATED": "cyan",
    "TRAINING": "blue",
    "BLENDING": "magenta",
    "HOLDING": "yellow",
    "FOSSILIZED": "bold green",
    "PRUNED": "red",
    "EMBARGOED": "dim red",
    "RESETTING": "dim red",
}


@attrs.frozen
class SlotState:
    """One slot after an epoch's action: stage name, the seed's blueprint and its alpha."""

    slot_id: str
    stage: str
    blueprint: str | None
    alpha: float


@attrs.frozen
class Row:
    """The last epoch of one arm (``esper run``) or environment (``esper train``)."""

    epoch: int
    max_epochs: int
    val_loss: float
    val_accuracy: float
    slots: tuple[SlotState, ...]
    action: str
    rolled_back: bool


def slot_states(result: Any) -> tuple[SlotState, ...]:
    """Each slot's state after the epoch's action (the signals hold the state before it)."""
    after: dict[str, str] | None = getattr(result, "stages_after", None)
    alphas: dict[str, float] = getattr(result, "alphas_after", None) or {}
    action = result.action
    states = []
    for view in result.signals.slots:
        stage = view.stage.name if after is None else after.get(view.slot_id, "DORMANT")
        blueprint = view.blueprint
        if action.op.name == "GERMINATE" and action.slot == view.slot_id and result.action_ok:
            blueprint = action.blueprint
        if stage == "DORMANT":
            blueprint = None
        alpha = float(alphas.get(view.slot_id, view.alpha))
        states.append(SlotState(view.slot_id, stage, blueprint, alpha))
    return tuple(states)


def _action(result: Any) -> str:
    op = result.action.op.name
    if op == "WAIT":
        return "wait"
    text = f"{op.lower()} {result.action.slot or ''}".rstrip()
    return text if result.action_ok else text + " (refused)"


def _row(result: Any, max_epochs: int) -> Row:
    return Row(
        epoch=result.epoch,
        max_epochs=max_epochs,
        val_loss=result.val_loss,
        val_accuracy=result.val_accuracy,
        slots=slot_states(result),
        action=_action(result),
        rolled_back=bool(result.rolled_back),
    )


def perplexity(val_loss: float) -> float:
    """Perplexity from a mean cross-entropy, capped so a diverged loss does not overflow."""
    return math.exp(min(val_loss, 50.0))


def format_clock(seconds: float | None) -> str:
    """``1:02:03`` or ``2:03``; ``--:--`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _live_console(quiet: bool, console: Console | None) -> Console | None:
    """The console of the live display, or None for plain lines (or nothing when quiet)."""
    if quiet:
        return None
    if console is not None:
        return console if console.is_terminal else None
    if not sys.stderr.isatty():
        return None
    from rich.console import Console

    return Console(file=sys.stderr)


class _LiveDisplay:
    """Shared machinery: the rich Live around the command, elapsed time and the ETA."""

    def __init__(self, quiet: bool, console: Console | None) -> None:
        self.quiet = quiet
        self.console = _live_console(quiet, console)
        #: The clock of elapsed time and ETA (tests put a fixed one here).
        self.now: Callable[[], float] = time.perf_counter
        self.started = self.now()
        self._live: Live | None = None
        self._log_handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    @property
    def live(self) -> bool:
        """Whether this object draws a live display (else plain lines, or nothing when quiet)."""
        return self.console is not None

    def __enter__(self) -> Any:
        self.started = self.now()
        if self.console is None:
            return self
        from rich.live import Live

        stderr = sys.stderr
        # The display asks for itself (`__rich__`) at each refresh, so the clock keeps moving.
        self._live = Live(self, console=self.console, refresh_per_second=2)
        self._live.start()
        if sys.stderr is not stderr:
            # Live redirected stderr so that other output appears above the display; the log
            # handler kept the real stream and would draw through it, so point it at the proxy.
            for handler in logging.getLogger().handlers:
                if type(handler) is logging.StreamHandler and handler.stream is stderr:
                    self._log_handlers.append((handler, stderr))
                    handler.setStream(sys.stderr)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handler, stream in self._log_handlers:
            handler.setStream(stream)
        self._log_handlers.clear()
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    def __rich__(self) -> RenderableType:
        raise NotImplementedError

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def eta(self, done: int, remaining: int) -> float | None:
        """Seconds left, from the pace of the ``done`` units finished since the start."""
        if done <= 0:
            return None
        return remaining * (self.now() - self.started) / done

    def clock(self, done: int, remaining: int) -> str:
        elapsed = self.now() - self.started
        return f"elapsed {format_clock(elapsed)}  ETA {format_clock(self.eta(done, remaining))}"

    def print(self, line: str) -> None:
        """A log line: above the live display, or on stderr."""
        if self.quiet:
            return
        if self.console is not None:
            self.console.print(line, markup=False, highlight=False)
        else:
            click.echo(line, err=True)


def _table(
    first: str, rows: list[tuple[str, Row]], language: bool, rollbacks: dict[str, int]
) -> RenderableType:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    slot_ids = sorted({s.slot_id for _, row in rows for s in row.slots})
    for name in (first, "epoch", "val loss", "ppl" if language else "acc"):
        table.add_column(name, justify="left" if name == first else "right", no_wrap=True)
    for slot_id in slot_ids:
        table.add_column(slot_id)
    table.add_column("action")
    for name, row in rows:
        metric = f"{perplexity(row.val_loss):.2f}" if language else f"{row.val_accuracy:.2f}%"
        by_slot = {s.slot_id: s for s in row.slots}
        cells: list[Text] = []
        for slot_id in slot_ids:
            state = by_slot.get(slot_id)
            if state is None:
                cells.append(Text(""))
                continue
            cell = Text(state.stage.lower(), style=STAGE_STYLES.get(state.stage, ""))
            if state.blueprint:
                cell.append(f" {state.blueprint.split(':')[-1]} a={state.alpha:.2f}", style="dim")
            cells.append(cell)
        action = row.action
        if rollbacks.get(name):
            action += f"  [{rollbacks[name]} rollback(s)]"
        table.add_row(
            Text(name),
            f"{row.epoch}/{row.max_epochs}",
            f"{row.val_loss:.4f}",
            metric,
            *cells,
            Text(action, style="bold red" if row.rolled_back else ""),
        )
    return table


class RunProgress(_LiveDisplay):
    """``esper run``: call it with ``(arm, result, env)`` after every arm's epoch.

    Lines mode prints one line per arm and epoch; the grown arm's line shows every slot's stage,
    blueprint and alpha and the action taken.
    """

    def __init__(self, quiet: bool, *, console: Console | None = None) -> None:
        super().__init__(quiet, console)
        self.rows: dict[str, Row] = {}
        self.language = False
        self.rollbacks: dict[str, int] = {}
        self._calls = 0
        self._remaining = 0

    def __enter__(self) -> RunProgress:
        super().__enter__()
        return self

    def __call__(self, arm: str, result: Any, env: Any) -> None:
        if self.quiet:
            return
        self.language = env.info.kind == "language_model"
        if not self.live:
            click.echo(self.line(arm, result, env), err=True)
            return
        self.rows[arm] = _row(result, env.max_epochs)
        if result.rolled_back:
            self.rollbacks[arm] = self.rollbacks.get(arm, 0) + 1
        self._calls += 1
        self._remaining = sum(r.max_epochs - r.epoch for r in self.rows.values())
        self.refresh()

    def line(self, arm: str, result: Any, env: Any) -> str:
        """The plain progress line of one arm's epoch."""
        metric = (
            f"ppl {perplexity(result.val_loss):8.2f}"
            if env.info.kind == "language_model"
            else f"acc {result.val_accuracy:6.2f}%"
        )
        line = (
            f"[{arm:6}] epoch {result.epoch:3d}/{env.max_epochs}  "
            f"loss {result.val_loss:7.4f}  {metric}"
        )
        if arm == "grown":
            slots = " ".join(
                f"{v.slot_id}:{v.stage.name.lower()}"
                + (f"({(v.blueprint or '').split(':')[-1]},a={v.alpha:.2f})" if v.blueprint else "")
                for v in result.signals.slots
            )
            op = result.action.op.name
            line += f"  {slots}" + (f"  -> {op} {result.action.slot or ''}" if op != "WAIT" else "")
            if result.rolled_back:
                line += "  [governor rollback]"
        return line

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        rows = list(self.rows.items())
        grown = self.rows.get("grown")
        where = f"epoch {grown.epoch}/{grown.max_epochs}" if grown else "epoch 0"
        header = Text(f"esper run  {where}  {self.clock(self._calls, self._remaining)}")
        return Group(header, _table("arm", rows, self.language, self.rollbacks))


class TrainProgress(_LiveDisplay):
    """``esper train``: `epoch` after every environment's epoch, `update` after every update.

    Lines mode prints one line per update; the live display shows the update, every
    environment's epoch, accuracy and slot stages, and prints each update's line above itself.
    """

    def __init__(
        self,
        quiet: bool,
        *,
        updates: int,
        done_updates: int,
        envs: int,
        epochs: int,
        console: Console | None = None,
    ) -> None:
        super().__init__(quiet, console)
        self.updates = updates
        self.done_updates = done_updates
        self.envs = envs
        self.epochs = epochs
        self.rows: dict[int, Row] = {}
        self.rollbacks: dict[str, int] = {}
        self._epochs_at_start = done_updates * envs * epochs
        self._epochs_done = self._epochs_at_start

    def __enter__(self) -> TrainProgress:
        super().__enter__()
        return self

    @property
    def total_epochs(self) -> int:
        return self.updates * self.envs * self.epochs

    def epoch(self, env: int, result: Any) -> None:
        """One environment finished one epoch of the update being collected."""
        if not self.live:
            return
        self.rows[env] = _row(result, self.epochs)
        if result.rolled_back:
            self.rollbacks[f"env {env}"] = self.rollbacks.get(f"env {env}", 0) + 1
        self._epochs_done += 1
        self.refresh()

    def update(self, record: dict[str, Any]) -> None:
        """The agent finished an update: print its line (above the live display, if any)."""
        if self.quiet:
            return
        self.done_updates = record["update"] + 1
        # Episodes cut short by a rollback end early: count the whole update as done.
        self._epochs_done = self.done_updates * self.envs * self.epochs
        self.print(self.line(record))
        self.refresh()

    @staticmethod
    def line(record: dict[str, Any]) -> str:
        """The plain progress line of one update."""
        m = record["metrics"]
        return (
            f"update {record['update'] + 1}: {record['episodes']} episodes  "
            f"reward {record['mean_reward']:+8.3f}  acc {record['mean_accuracy']:6.2f}%  "
            f"fossilized {record['fossilized']}  rollbacks {record['rollbacks']}  "
            f"kl {m.get('approx_kl', float('nan')):.4f}  "
            f"ev {m.get('explained_variance', float('nan')):+.3f}  "
            f"{record['wall_time_s']:.1f} s"
        )

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        current = min(self.done_updates + 1, self.updates)
        done = self._epochs_done - self._epochs_at_start
        remaining = self.total_epochs - self._epochs_done
        header = Text(
            f"esper train  update {current}/{self.updates}  "
            f"env-epochs {self._epochs_done}/{self.total_epochs}  {self.clock(done, remaining)}"
        )
        rows = [(f"env {i}", row) for i, row in sorted(self.rows.items())]
        return Group(header, _table("env", rows, False, self.rollbacks))
