"""Load a run directory into a typed `RunData` for the report (no torch, no matplotlib).

A run directory holds ``config.toml`` and, once it has done anything, ``events.jsonl``; a run
that finished also holds ``summary.json``. The event log is read as checked JSON objects
(`esper.telemetry.read_event_objects`) rather than typed records: a run may carry events of
plugins that are not installed where the report is made. Only the event types the report draws
are checked, field by field; any other type is skipped. A line that is not a JSON object of the current schema version is an error
naming the file and the line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from esper.errors import TelemetryError
from esper.rundir import layout
from esper.rundir.layout import RunFileError

RunKind = Literal["run", "train"]
SeedMarkKind = Literal["germinated", "fossilized", "pruned"]

T = TypeVar("T")


class ReportError(RunFileError):
    """A run directory cannot be reported on (missing or malformed files)."""


@attrs.frozen(kw_only=True)
class EpochPoint:
    """One ``engine.epoch`` event: one arm after one epoch."""

    arm: str
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    params_total: int
    params_host: int
    action: str
    action_slot: str | None
    action_ok: bool
    #: Stage name of every slot as the controller observed it, before this epoch's action and
    #: lifecycle tick (the stage changes of the epoch are in `RunData.stage_changes`).
    stages: dict[str, str]
    #: Alpha of every slot that holds a seed, after the epoch.
    alphas: dict[str, float]


@attrs.frozen(kw_only=True)
class SeedMark:
    """A seed was germinated, fossilized or pruned (``seed.*`` events)."""

    kind: SeedMarkKind
    epoch: int | None
    #: The arm whose epoch the event fell in (see `attribute_arms`); None if unknown.
    arm: str | None
    slot_id: str
    seed_id: str
    blueprint_id: str
    #: Why a seed was pruned (empty for the other kinds).
    reason: str = ""


@attrs.frozen(kw_only=True)
class StageChange:
    """A ``seed.stage_changed`` event: the seed in ``slot_id`` moved to ``to_stage``."""

    epoch: int | None
    arm: str | None
    slot_id: str
    seed_id: str
    from_stage: str
    to_stage: str


@attrs.frozen(kw_only=True)
class Rollback:
    """A ``governor.rollback`` event."""

    epoch: int | None
    arm: str | None
    reason: str
    val_loss: float | None
    seeds_pruned: list[str]


@attrs.frozen(kw_only=True)
class UpdatePoint:
    """One agent update of ``esper train`` (from ``summary.json`` history or ``train.update``)."""

    #: Zero-based, as stored; the CLI and the charts show ``update + 1``.
    update: int
    episodes: int
    mean_reward: float
    mean_accuracy: float
    rollbacks: int
    #: Actions taken in this update's episodes, by operation name (summary history only).
    actions: dict[str, int]
    metrics: dict[str, float]


@attrs.frozen(kw_only=True)
class RunData:
    """Everything the report shows about one run directory."""

    path: Path
    #: The directory's name (the run id unless the directory was renamed).
    name: str
    kind: RunKind
    config: dict[str, Any]
    config_text: str
    #: ``summary.json``, or None for a run that did not finish.
    summary: dict[str, Any] | None
    epochs: list[EpochPoint] = attrs.field(factory=list)
    seeds: list[SeedMark] = attrs.field(factory=list)
    stage_changes: list[StageChange] = attrs.field(factory=list)
    rollbacks: list[Rollback] = attrs.field(factory=list)
    updates: list[UpdatePoint] = attrs.field(factory=list)
    #: ``run.ended`` status (finished, interrupted, crashed), or None if the log has none.
    status: str | None = None

    def arms(self) -> list[str]:
        """Arm names in the order they first appear (``grown`` before ``static`` for esper run)."""
        seen: dict[str, None] = {}
        for point in self.epochs:
            seen.setdefault(point.arm, None)
        if not seen and self.summary is not None:
            for key, value in self.summary.items():
                if isinstance(value, dict) and "val_accuracy" in value:
                    seen.setdefault(key, None)
        return list(seen)

    def arm_epochs(self, arm: str) -> list[EpochPoint]:
        """The epochs of one arm, in epoch order."""
        return sorted((p for p in self.epochs if p.arm == arm), key=lambda p: p.epoch)

    def stages_after(self, arm: str) -> dict[int, dict[str, str]]:
        """Stage of every slot of ``arm`` at the end of each epoch (after the action and the
        lifecycle tick), from the ``seed.stage_changed`` events."""
        points = self.arm_epochs(arm)
        changes = sorted(
            (c for c in self.stage_changes if c.arm == arm and c.epoch is not None),
            key=lambda c: c.epoch or 0,
        )
        current = dict(points[0].stages) if points else {}
        out: dict[int, dict[str, str]] = {}
        i = 0
        for p in points:
            while i < len(changes) and (changes[i].epoch or 0) <= p.epoch:
                current[changes[i].slot_id] = changes[i].to_stage
                i += 1
            out[p.epoch] = dict(current)
        return out

    def final_accuracy(self) -> dict[str, float]:
        """Final validation accuracy (%) by arm, or ``{"train": ...}`` for a training run."""
        if self.kind == "train":
            finite = [u.mean_accuracy for u in self.updates if math.isfinite(u.mean_accuracy)]
            return {"train": finite[-1]} if finite else {}
        out: dict[str, float] = {}
        for arm in self.arms():
            value = None
            if self.summary is not None and isinstance(self.summary.get(arm), dict):
                value = self.summary[arm].get("val_accuracy")
            if not _is_number(value):
                points = self.arm_epochs(arm)
                value = points[-1].val_accuracy if points else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[arm] = float(value)
        return out


# -- field checks ----------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Fields:
    """Typed access to one decoded event, with errors that name the file and line."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.type = str(data.get("type"))

    def _fail(self, key: str, what: str) -> TelemetryError:
        return TelemetryError(
            f"{self.where}: {self.type} event: field {key!r} must be {what}, "
            f"got {self.data.get(key)!r}"
        )

    def _get(self, key: str, check: Callable[[object], bool], what: str, optional: bool) -> Any:
        if key not in self.data or (optional and self.data[key] is None):
            if optional:
                return None
            raise TelemetryError(f"{self.where}: {self.type} event: field {key!r} is missing")
        value = self.data[key]
        if not check(value):
            raise self._fail(key, what)
        return value

    def num(self, key: str) -> float:
        return float(self._get(key, _is_number, "a number", False))

    def opt_num(self, key: str) -> float | None:
        value = self._get(key, _is_number, "a number or null", True)
        return None if value is None else float(value)

    def integer(self, key: str) -> int:
        return int(self._get(key, _is_int, "an integer", False))

    def opt_integer(self, key: str) -> int | None:
        value = self._get(key, _is_int, "an integer or null", True)
        return None if value is None else int(value)

    def text(self, key: str, default: str | None = None) -> str:
        if default is not None and key not in self.data:
            return default
        return str(self._get(key, lambda v: isinstance(v, str), "a string", False))

    def opt_text(self, key: str) -> str | None:
        value = self._get(key, lambda v: isinstance(v, str), "a string or null", True)
        return None if value is None else str(value)

    def flag(self, key: str, default: bool) -> bool:
        if key not in self.data:
            return default
        return bool(self._get(key, lambda v: isinstance(v, bool), "true or false", False))

    def mapping(self, key: str, check: Callable[[object], bool], what: str) -> dict[str, Any]:
        if key not in self.data:
            return {}
        value = self._get(key, lambda v: isinstance(v, dict), f"an object of {what}", False)
        if not all(isinstance(k, str) and check(v) for k, v in value.items()):
            raise self._fail(key, f"an object of {what}")
        return dict(value)

    def str_list(self, key: str) -> list[str]:
        if key not in self.data:
            return []
        value = self._get(key, lambda v: isinstance(v, list), "a list of strings", False)
        if not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings")
        return list(value)


_SEED_KINDS: dict[str, SeedMarkKind] = {
    "seed.germinated": "germinated",
    "seed.fossilized": "fossilized",
    "seed.pruned": "pruned",
}


def _epoch_point(f: _Fields) -> EpochPoint:
    return EpochPoint(
        arm=f.text("arm"),
        epoch=f.integer("epoch"),
        train_loss=f.num("train_loss"),
        train_accuracy=f.num("train_accuracy"),
        val_loss=f.num("val_loss"),
        val_accuracy=f.num("val_accuracy"),
        params_total=f.integer("params_total"),
        params_host=f.integer("params_host"),
        action=f.text("action", "WAIT"),
        action_slot=f.opt_text("action_slot") if "action_slot" in f.data else None,
        action_ok=f.flag("action_ok", True),
        stages=f.mapping("stages", lambda v: isinstance(v, str), "strings"),
        alphas={k: float(v) for k, v in f.mapping("alphas", _is_number, "numbers").items()},
    )


def _update_point(f: _Fields, *, with_actions: bool) -> UpdatePoint:
    return UpdatePoint(
        update=f.integer("update"),
        episodes=f.integer("episodes"),
        mean_reward=f.num("mean_reward"),
        mean_accuracy=f.num("mean_accuracy"),
        rollbacks=f.integer("rollbacks"),
        actions=f.mapping("actions", _is_int, "integers") if with_actions else {},
        metrics={k: float(v) for k, v in f.mapping("metrics", _is_number, "numbers").items()},
    )


@attrs.define
class _Builder:
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
        return "train" in self.commands

    def add(self, f: _Fields) -> None:
        kind = f.type
        if kind == "run.started":
            self.commands.append(f.text("command"))
            self.resumed = len(self.commands) > 1
            self.status = None
            self._clear_pending()
        elif kind == "run.ended":
            self.status = f.text("status")
        elif kind == "train.update":
            self.update(_update_point(f, with_actions=False))
        elif self.training:
            # The episodes of esper train are not drawn one by one.
            return
        elif kind == "engine.epoch":
            self.epoch(_epoch_point(f))
        elif kind in _SEED_KINDS:
            self.pending_seeds.append(
                SeedMark(
                    kind=_SEED_KINDS[kind],
                    epoch=f.opt_integer("epoch"),
                    arm=None,
                    slot_id=f.text("slot_id"),
                    seed_id=f.text("seed_id"),
                    blueprint_id=f.text("blueprint_id"),
                    reason=f.text("reason") if kind == "seed.pruned" else "",
                )
            )
        elif kind == "seed.stage_changed":
            self.pending_changes.append(
                StageChange(
                    epoch=f.opt_integer("epoch"),
                    arm=None,
                    slot_id=f.text("slot_id"),
                    seed_id=f.text("seed_id"),
                    from_stage=f.text("from_stage"),
                    to_stage=f.text("to_stage"),
                )
            )
        elif kind == "governor.rollback":
            self.pending_rollbacks.append(
                Rollback(
                    epoch=f.opt_integer("epoch"),
                    arm=None,
                    reason=f.text("reason"),
                    val_loss=f.opt_num("val_loss"),
                    seeds_pruned=f.str_list("seeds_pruned"),
                )
            )

    def epoch(self, point: EpochPoint) -> None:
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
        if self.resumed:
            self.resumed = False
            self.updates = [u for u in self.updates if u.update < point.update]
        self.updates.append(point)

    def finish(self) -> None:
        # Events after the last epoch (of an epoch that never ended) keep no arm.
        self.seeds += self.pending_seeds
        self.stage_changes += self.pending_changes
        self.rollbacks += self.pending_rollbacks
        self._clear_pending()


def _read_events(run_dir: Path, builder: _Builder) -> None:
    path = run_dir / layout.EVENTS
    try:
        lines = layout.read_events(run_dir)
    except RunFileError as exc:
        raise ReportError(str(exc)) from None
    for lineno, data in lines:
        builder.add(_Fields(data, f"{path}:{lineno}"))
    builder.finish()


# -- summary.json ----------------------------------------------------------------------------


def _history_updates(history: object, path: Path) -> list[UpdatePoint]:
    if not isinstance(history, list):
        raise ReportError(f"{path}: 'history' must be a list")
    points: list[UpdatePoint] = []
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            raise ReportError(f"{path}: history[{i}] must be an object")
        f = _Fields({"type": "history record", **record}, f"{path}: history[{i}]")
        try:
            points.append(_update_point(f, with_actions=True))
        except TelemetryError as exc:
            raise ReportError(str(exc)) from None
    return points


def load_run(path: str | Path) -> RunData:
    """Read one run directory (``esper run`` or ``esper train``) into a `RunData`.

    Raises `ReportError` (or `esper.errors.TelemetryError` for the event log) naming the file,
    and the line where there is one, when the directory is not a run directory or a file in it
    is malformed.
    """
    path = Path(path)
    if not path.is_dir():
        what = "no such directory" if not path.exists() else "not a directory"
        raise ReportError(f"{path}: not a run directory ({what})")
    events_path, summary_path = path / layout.EVENTS, path / layout.SUMMARY
    try:
        config, config_text = layout.read_config(path)
        summary = layout.read_summary(path)
    except RunFileError as exc:
        raise ReportError(str(exc)) from None
    if not events_path.is_file() and summary is None:
        raise ReportError(f"{path}: run directory has neither {layout.EVENTS} nor {layout.SUMMARY}")
    builder = _Builder()
    if events_path.is_file():
        _read_events(path, builder)

    # esper run's summary has no "command"; without a summary, run.started says.
    training = summary.get("command") == "train" if summary is not None else builder.training
    kind: RunKind = "train" if training else "run"
    updates = builder.updates
    if kind == "train" and summary is not None and "history" in summary:
        # The summary's history also has each update's action counts.
        updates = _history_updates(summary["history"], summary_path)
    if kind == "run" and not builder.epochs and summary is None:
        raise ReportError(f"{events_path}: no engine.epoch events (the run did no epoch)")
    return RunData(
        path=path,
        name=path.resolve().name,
        kind=kind,
        config=config,
        config_text=config_text,
        summary=summary,
        epochs=builder.epochs,
        seeds=builder.seeds,
        stage_changes=builder.stage_changes,
        rollbacks=builder.rollbacks,
        updates=updates,
        status=builder.status,
    )
