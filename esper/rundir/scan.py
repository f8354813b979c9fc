"""What is in a directory of runs: one `RunInfo` per run directory, read from its files only.

`scan` backs ``esper runs list``. It reads ``config.toml``, ``events.jsonl`` (as checked JSON
objects, `esper.telemetry.read_event_objects`; a line that is not one is skipped and named,
with its line number, in `RunInfo.problems`), ``summary.json``
when the run finished, and whether a checkpoint exists. It never imports torch and never raises for a
damaged run directory: such a run is listed with the status ``unreadable (<why>)``.

Status, from the last ``run.started`` / ``run.ended`` pair in ``events.jsonl`` (a resumed run
appends a new pair):

- ``finished``: the last session ended normally;
- ``resumable``: it ended ``interrupted`` or ``crashed`` (or was killed, see below) and a
  checkpoint (``checkpoint.pt`` or ``policy.pt``) is there to resume from;
- ``interrupted`` / ``crashed``: the same without a checkpoint;
- ``running?``: the last session has no ``run.ended`` and the event log changed within
  `STALE_AFTER_S`; a process killed outright (SIGKILL, power loss) looks the same until then,
  after which it counts as crashed (and so ``resumable`` when it has a checkpoint).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from esper.errors import EsperError
from esper.rundir import layout

#: A run without ``run.ended`` whose event log is older than this is taken to be dead.
STALE_AFTER_S = 3600.0


class Unreadable(Exception):
    """A run directory cannot be read; the message says which file and why."""


@attrs.define(kw_only=True)
class RunInfo:
    """One run directory as ``esper runs list`` shows it.

    ``done`` / ``total`` count epochs for ``esper run`` and updates for ``esper train``
    (``unit``). ``accuracy`` is the grown arm's best validation accuracy for ``esper run`` and
    the last update's mean episode accuracy for ``esper train``. ``perplexity`` is the grown
    arm's final validation perplexity, known only for a finished language-model run.
    """

    run_id: str
    path: str
    status: str
    command: str | None = None
    task: str | None = None
    policy: str | None = None
    agent: str | None = None
    done: int | None = None
    total: int | None = None
    unit: str | None = None
    accuracy: float | None = None
    perplexity: float | None = None
    reward: float | None = None
    wall_time_s: float | None = None
    checkpoint: str | None = None
    #: Lines of ``events.jsonl`` that were skipped, as ``"<path>:<line>: <why>"``.
    problems: list[str] = attrs.field(factory=list)

    @property
    def controller(self) -> str | None:
        """The policy id, with the agent that trains it for ``esper train`` runs."""
        if self.policy is None:
            return None
        return f"{self.policy} + {self.agent}" if self.agent else self.policy

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        data = attrs.asdict(self)
        data["controller"] = self.controller
        return data


def scan(directory: str | Path, *, now: float | None = None) -> list[RunInfo]:
    """Every run directory in ``directory`` (or ``directory`` itself if it is one), by run id.

    Raises `EsperError` only when ``directory`` does not exist or is not a directory.
    """
    root = Path(directory)
    if not root.is_dir():
        raise EsperError(f"{root}: no such directory of runs")
    when = time.time() if now is None else now
    if _is_run_dir(root):
        return [read_run(root, now=when)]
    runs = [read_run(p, now=when) for p in sorted(root.iterdir()) if _is_run_dir(p)]
    return runs


#: What marks an evaluation directory of ``esper eval``: it may hold ``events.jsonl`` (when its
#: config selects the jsonl sink) but is not a run.
_EVAL_PLAN = "plan.json"


def _is_run_dir(path: Path) -> bool:
    return (
        path.is_dir()
        and any((path / name).exists() for name in layout.RUN_FILES)
        and not (path / _EVAL_PLAN).is_file()
    )


def read_run(run_dir: Path, *, now: float | None = None) -> RunInfo:
    """Read one run directory; a damaged one gives status ``unreadable (<why>)``."""
    try:
        return _read(run_dir, time.time() if now is None else now)
    except Unreadable as exc:
        return RunInfo(run_id=run_dir.name, path=str(run_dir), status=f"unreadable ({exc})")


# -- reading ------------------------------------------------------------------------------------


def _read(run_dir: Path, now: float) -> RunInfo:
    config = _read_config(run_dir)
    problems: list[str] = []
    events = _read_events(run_dir, problems)
    info = RunInfo(run_id=run_dir.name, path=str(run_dir), status="unknown", problems=problems)
    run_table = _table(config, "run")
    info.task = _name(config, "task")
    info.policy = _name(config, "policy")
    info.command = _command(run_dir, config, events)
    if info.command == "train":
        info.agent = _name(config, "agent")
        info.unit = "updates"
        train = _table(config, "train")
        episodes, envs = as_int(train.get("episodes")), as_int(train.get("envs"))
        if episodes is not None and envs:
            info.total = math.ceil(episodes / envs)
    else:
        info.unit = "epochs"
        info.total = as_int(run_table.get("epochs"))
    info.checkpoint = layout.checkpoint(run_dir)

    ended, open_since = _sessions(events)
    if ended == "finished":
        info.status = "finished"
    elif ended is not None:
        info.status = "resumable" if info.checkpoint else ended
    else:
        age = now - _mtime(run_dir / layout.EVENTS)
        if age < STALE_AFTER_S:
            info.status = "running?"
        else:
            info.status = "resumable" if info.checkpoint else "crashed"

    _progress_from_events(info, events)
    info.wall_time_s = _wall_time(events, open_since)
    if info.status == "finished":
        _from_summary(info, _read_summary(run_dir))
    return info


def _read_config(run_dir: Path) -> dict[str, Any]:
    return _readable(run_dir, lambda: layout.read_config(run_dir)[0])


def _read_events(run_dir: Path, problems: list[str] | None = None) -> list[dict[str, Any]]:
    # A listing should show what can still be read: a bad line is skipped, and named (file and
    # line) in ``problems``.
    pairs = _readable(run_dir, lambda: layout.read_events(run_dir, strict=False, skipped=problems))
    events = [data for _, data in pairs]
    if not any(e["type"] == "run.started" for e in events):
        raise Unreadable(f"{layout.EVENTS} has no run.started event")
    return events


def _read_summary(run_dir: Path) -> dict[str, Any]:
    summary = _readable(run_dir, lambda: layout.read_summary(run_dir))
    if summary is None:
        raise Unreadable(f"finished, but no {layout.SUMMARY}")
    return summary


T = TypeVar("T")


def _readable(run_dir: Path, read: Callable[[], T]) -> T:
    """``read()``, a `layout.RunFileError` becoming `Unreadable` with paths relative to the run."""
    try:
        return read()
    except layout.RunFileError as exc:
        raise Unreadable(str(exc).replace(f"{run_dir}{os.sep}", "")) from None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError as exc:
        raise Unreadable(f"{path.name}: {exc}") from None


def _table(config: dict[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _name(config: dict[str, Any], key: str) -> str | None:
    name = _table(config, key).get("name")
    return name if isinstance(name, str) else None


def as_int(value: object) -> int | None:
    """A JSON integer (not a boolean) as an int, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: object) -> float | None:
    """A JSON number (not a boolean) as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _command(run_dir: Path, config: dict[str, Any], events: list[dict[str, Any]]) -> str | None:
    for event in events:
        if event["type"] == "run.started":
            command = event.get("command")
            # `esper resume` continues an `esper run` run (a train run resumes as "train").
            if command in ("run", "resume"):
                return "run"
            if command == "train":
                return "train"
            break
    for command, name in layout.CHECKPOINTS.items():
        if (run_dir / name).is_file():
            return command
    return "train" if "agent" in config else None


def _sessions(events: list[dict[str, Any]]) -> tuple[str | None, float | None]:
    """The last session's end status (None while open) and, if open, when it started."""
    ended: str | None = None
    started: float | None = None
    for event in events:
        if event["type"] == "run.started":
            ended, started = None, as_float(event.get("ts"))
        elif event["type"] == "run.ended":
            status = event.get("status")
            ended = status if isinstance(status, str) and status else "ended"
    return ended, (started if ended is None else None)


def _wall_time(events: list[dict[str, Any]], open_since: float | None) -> float | None:
    """Wall time over every session: each closed one's own figure, the open one to its last event."""
    total = 0.0
    seen = False
    for event in events:
        if event["type"] == "run.ended":
            wall = as_float(event.get("wall_time_s"))
            if wall is not None:
                total += wall
                seen = True
    if open_since is not None:
        last = as_float(events[-1].get("ts"))
        if last is not None:
            total += max(0.0, last - open_since)
            seen = True
    return total if seen else None


def _progress_from_events(info: RunInfo, events: list[dict[str, Any]]) -> None:
    if info.command == "train":
        updates = [e for e in events if e["type"] == "train.update"]
        numbers = [n for n in (as_int(e.get("update")) for e in updates) if n is not None]
        info.done = max(numbers) + 1 if numbers else 0
        if updates:
            info.accuracy = _finite(as_float(updates[-1].get("mean_accuracy")))
            info.reward = _finite(as_float(updates[-1].get("mean_reward")))
        return
    grown = [e for e in events if e["type"] == "engine.epoch" and e.get("arm") == "grown"]
    epochs = [n for n in (as_int(e.get("epoch")) for e in grown) if n is not None]
    info.done = max(epochs) if epochs else 0
    accuracies = [
        a for a in (_finite(as_float(e.get("val_accuracy"))) for e in grown) if a is not None
    ]
    info.accuracy = max(accuracies) if accuracies else None


def _from_summary(info: RunInfo, summary: dict[str, Any]) -> None:
    """A finished run's figures come from its summary (whole history, wall time across resumes)."""
    wall = as_float(summary.get("wall_time_s"))
    if wall is not None:
        info.wall_time_s = wall
    if info.command == "train":
        info.done = as_int(summary.get("updates")) if "updates" in summary else info.done
        history = summary.get("history")
        if isinstance(history, list) and history and isinstance(history[-1], dict):
            info.accuracy = _finite(as_float(history[-1].get("mean_accuracy")))
            info.reward = _finite(as_float(history[-1].get("mean_reward")))
        return
    epochs = as_int(summary.get("epochs"))
    if epochs is not None:
        info.done = info.total = epochs
    grown = summary.get("grown")
    if not isinstance(grown, dict):
        raise Unreadable(f"{layout.SUMMARY}: no 'grown' arm")
    best = _finite(as_float(grown.get("best_val_accuracy")))
    if best is not None:
        info.accuracy = best
    if summary.get("task_kind") == "language_model":
        info.perplexity = _finite(as_float(grown.get("val_perplexity")))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def format_duration(seconds: float | None) -> str:
    """A wall time as people read it: ``12.3 s``, ``4m05s`` or ``2h07m`` (``-`` unknown)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
