"""Reading a run's ``events.jsonl`` into the report's records (`EventLog`).

The event log is read as checked JSON objects (`esper.rundir.layout.read_events`) rather than
typed records: a run may carry events of plugins that are not installed where the report is
made. Only the event types the report draws are checked, field by field; any other type is
skipped. A line that is not a JSON object of the current schema version is an error naming the
file and the line.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from esper.report.errors import ReportError
from esper.report.fields import EventFields
from esper.report.parsing import (
    SEED_KINDS,
    epoch_point,
    rollback,
    seed_mark,
    stage_change,
    update_point,
)
from esper.report.records import EpochPoint, Rollback, SeedMark, StageChange, UpdatePoint
from esper.rundir import layout
from esper.rundir.layout import RunFileError


@attrs.define
class EventLog:
    """Accumulates events; handles resumed runs and attributes seed/governor events to arms.

    Seed and governor events carry no arm. Each arm's epoch runs to its end (emitting those
    events) before its ``engine.epoch`` event and before the next arm starts, so an event
    belongs to the arm of the next ``engine.epoch`` event in the log.

    A resumed run appends to the same log and replays the epochs (updates) after its last
    checkpoint: after a second ``run.started``, the first epoch (update) seen drops everything
    recorded from that epoch (update) on, so the replay replaces what the stopped process logged.
    """

    commands: list[str] = attrs.field(factory=list)
    status: str | None = None
    epochs: list[EpochPoint] = attrs.field(factory=list)
    seeds: list[SeedMark] = attrs.field(factory=list)
    stage_changes: list[StageChange] = attrs.field(factory=list)
    rollbacks: list[Rollback] = attrs.field(factory=list)
    updates: list[UpdatePoint] = attrs.field(factory=list)
    pending_seeds: list[SeedMark] = attrs.field(factory=list)
    pending_changes: list[StageChange] = attrs.field(factory=list)
    pending_rollbacks: list[Rollback] = attrs.field(factory=list)
    resumed: bool = False

    def _clear_pending(self) -> None:
        self.pending_seeds.clear()
        self.pending_changes.clear()
        self.pending_rollbacks.clear()

    @property
    def training(self) -> bool:
        """Whether the log is of ``esper train`` (a ``run.started`` event says so)."""
        return "train" in self.commands

    def add(self, f: EventFields) -> None:
        """Take in one event of the log, in order."""
        kind = f.type
        if kind == "run.started":
            self.commands.append(f.text("command"))
            self.resumed = len(self.commands) > 1
            self.status = None
            self._clear_pending()
        elif kind == "run.ended":
            self.status = f.text("status")
        elif kind == "train.update":
            self.update(update_point(f, with_actions=False))
        elif self.training:
            # The episodes of esper train are not drawn one by one.
            return
        elif kind == "engine.epoch":
            self.epoch(epoch_point(f))
        elif kind in SEED_KINDS:
            self.pending_seeds.append(seed_mark(f))
        elif kind == "seed.stage_changed":
            self.pending_changes.append(stage_change(f))
        elif kind == "governor.rollback":
            self.pending_rollbacks.append(rollback(f))

    def epoch(self, point: EpochPoint) -> None:
        """An arm finished an epoch: the events since the last epoch are that arm's."""
        if self.resumed:
            self.resumed = False
            cut = point.epoch
            self.epochs = [p for p in self.epochs if p.epoch < cut]
            self.seeds = [m for m in self.seeds if m.epoch is None or m.epoch < cut]
            self.stage_changes = [c for c in self.stage_changes if c.epoch is None or c.epoch < cut]
            self.rollbacks = [r for r in self.rollbacks if r.epoch is None or r.epoch < cut]
        self.epochs.append(point)
        self.seeds += [attrs.evolve(m, arm=point.arm) for m in self.pending_seeds]
        self.stage_changes += [attrs.evolve(c, arm=point.arm) for c in self.pending_changes]
        self.rollbacks += [attrs.evolve(r, arm=point.arm) for r in self.pending_rollbacks]
        self._clear_pending()

    def update(self, point: UpdatePoint) -> None:
        """The agent of ``esper train`` finished an update."""
        if self.resumed:
            self.resumed = False
            self.updates = [u for u in self.updates if u.update < point.update]
        self.updates.append(point)

    def finish(self) -> None:
        """The log ended: keep the events of an epoch that never ended."""
        # Events after the last epoch (of an epoch that never ended) keep no arm.
        self.seeds += self.pending_seeds
        self.stage_changes += self.pending_changes
        self.rollbacks += self.pending_rollbacks
        self._clear_pending()


def read_event_log(run_dir: Path) -> EventLog:
    """Read ``run_dir``'s ``events.jsonl`` (which must exist) into an `EventLog`."""
    path = run_dir / layout.EVENTS
    log = EventLog()
    try:
        lines = layout.read_events(run_dir)
    except RunFileError as exc:
        raise ReportError(str(exc)) from None
    for lineno, data in lines:
        log.add(EventFields(data, f"{path}:{lineno}"))
    log.finish()
    return log
