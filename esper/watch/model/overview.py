"""The run as a whole: command, sessions, status, progress, wall time and its configuration.

Everything comes from the events (``run.started`` carries the resolved configuration), so the
overview of a replayed run is the same as it was live, and no clock is read here: the wall time
of an open session is measured to its last event.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from esper.report.fields import EventFields
from esper.rundir.scan import as_float, as_int

#: ``(label, dotted config key)`` of the settings the overview shows, for every command...
CONFIG_KEYS: tuple[tuple[str, str], ...] = (
    ("task", "task.name"),
    ("host", "task.host_name"),
    ("train / val size", "task.train_size|task.val_size"),
    ("policy", "policy.name"),
    ("governor", "governor.name"),
    ("epochs", "run.epochs"),
    ("seed", "run.seed"),
    ("device", "run.device"),
)
#: ...and those only ``esper train`` has.
TRAIN_KEYS: tuple[tuple[str, str], ...] = (
    ("agent", "agent.name"),
    ("reward", "reward.name"),
    ("runner", "runner.name"),
    ("episodes / envs", "train.episodes|train.envs"),
)


def config_value(config: dict[str, Any], dotted: str) -> object:
    """The value at ``a.b.c`` in a nested config, or None where any level is missing."""
    value: object = config
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def short_name(component_id: str) -> str:
    """``esper.policies.heuristic:heuristic`` -> ``heuristic``."""
    return component_id.rsplit(":", 1)[-1]


@attrs.define
class Overview:
    """Folds the run-level events."""

    run_id: str = ""
    #: ``run`` or ``train`` (``esper resume`` continues an ``esper run`` run); None before
    #: the first ``run.started``.
    command: str | None = None
    config: dict[str, Any] = attrs.field(factory=dict)
    #: Time of the first event and of the last.
    first_ts: float | None = None
    last_ts: float | None = None
    sessions: int = 0
    #: Start of the session still open (no ``run.ended`` yet).
    open_since: float | None = None
    #: ``run.ended`` status of the last session; None while it is open.
    status: str | None = None
    closed_wall_s: float = 0.0
    #: ``position`` of every ``run.resumed`` event.
    resumed_at: list[int] = attrs.field(factory=list)
    #: The furthest epoch of any arm (``esper run``), the last epoch of an episode (train).
    epoch: int = 0
    updates: int = 0
    episodes: int = 0
    events: int = 0

    def add(self, f: EventFields) -> None:
        """Take in one event, in order."""
        self.events += 1
        ts = as_float(f.data.get("ts"))
        if ts is not None and math.isfinite(ts):
            self.first_ts = ts if self.first_ts is None else self.first_ts
            self.last_ts = ts
        run_id = f.data.get("run_id")
        if isinstance(run_id, str) and run_id:
            self.run_id = run_id
        kind = f.type
        if kind == "run.started":
            self._started(f)
        elif kind == "run.resumed":
            position = as_int(f.data.get("position"))
            if position is not None:
                self.resumed_at.append(position)
        elif kind == "run.ended":
            self.status = f.text("status")
            self.closed_wall_s += as_float(f.data.get("wall_time_s")) or 0.0
            self.open_since = None
        elif kind == "engine.epoch":
            epoch = f.integer("epoch")
            self.epoch = epoch if self.command == "train" else max(self.epoch, epoch)
        elif kind == "train.update":
            self.updates = max(self.updates, f.integer("update") + 1)
        elif kind == "train.episode":
            self.episodes += 1

    def _started(self, f: EventFields) -> None:
        self.sessions += 1
        command = f.text("command")
        if self.command is None:
            self.command = "run" if command == "resume" else command
        config = f.data.get("config")
        if isinstance(config, dict) and config:
            self.config = config
        self.status = None
        self.open_since = self.last_ts

    @property
    def wall_time_s(self) -> float | None:
        """Wall time over every session; the open one counts to its last event."""
        if self.sessions == 0:
            return None
        open_s = 0.0
        if self.open_since is not None and self.last_ts is not None:
            open_s = max(0.0, self.last_ts - self.open_since)
        return self.closed_wall_s + open_s

    @property
    def total_epochs(self) -> int | None:
        return as_int(config_value(self.config, "run.epochs"))

    @property
    def total_updates(self) -> int | None:
        """Updates ``esper train`` will make: ``ceil(episodes / envs)``."""
        episodes = as_int(config_value(self.config, "train.episodes"))
        envs = as_int(config_value(self.config, "train.envs"))
        if episodes is None or not envs:
            return None
        return math.ceil(episodes / envs)

    def settings(self) -> list[tuple[str, str]]:
        """``(label, value)`` of the configuration the overview shows."""
        keys = CONFIG_KEYS + (TRAIN_KEYS if self.command == "train" else ())
        out: list[tuple[str, str]] = []
        for label, dotted in keys:
            parts = [config_value(self.config, key) for key in dotted.split("|")]
            if all(p is None for p in parts):
                continue
            out.append((label, " / ".join(_show(p) for p in parts)))
        return out


def _show(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return short_name(value) if ":" in value else value
    return str(value)
