"""The decision log: what the controller did and what happened to seeds and the governor.

One `Decision` per event worth a line: the controller's action of an epoch (``engine.epoch``
``action``, ``action_slot``, ``action_ok``; waits are left out), seed events, governor panics
and rollbacks, training anomalies, episodes and updates of ``esper train``, and the run's own
start, resume and end. Validation of the fields the line needs is lenient: a line shows ``?``
for a field it cannot read rather than dropping the event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Literal

import attrs

from esper.report.fields import EventFields, is_number

#: How a line is shown: ``rollback`` and ``warning`` stand out.
Level = Literal["info", "action", "seed", "warning", "rollback"]
MAX_DECISIONS = 1000


@attrs.define
class Decision:
    epoch: int | None
    #: The arm (``grown``, ``env3``); None for run-level lines or until the arm is known.
    arm: str | None
    level: Level
    text: str
    #: Line of ``events.jsonl`` it came from.
    line: str = ""


def _get(f: EventFields, key: str) -> str:
    value = f.data.get(key)
    if value is None:
        return "?"
    return str(value).rsplit(":", 1)[-1] if key == "blueprint_id" else str(value)


def _num(f: EventFields, key: str, spec: str = ".4g") -> str:
    value = f.data.get(key)
    return format(value, spec) if is_number(value) else "?"


def _action(f: EventFields) -> tuple[Level, str] | None:
    action = _get(f, "action")
    if action in ("WAIT", "?"):
        return None
    slot = f.data.get("action_slot")
    text = f"{action} {slot}" if isinstance(slot, str) else action
    if f.data.get("action_ok") is False:
        return "warning", f"{text} (not applied)"
    return "action", text


def _pruned(f: EventFields) -> tuple[Level, str]:
    who = "auto" if f.data.get("auto") else _get(f, "initiator")
    return "seed", f"pruned {_get(f, 'seed_id')}: {_get(f, 'reason')} ({who})"


def _rollback(f: EventFields) -> tuple[Level, str]:
    pruned = f.data.get("seeds_pruned")
    names = ", ".join(str(s) for s in pruned) if isinstance(pruned, list) and pruned else "none"
    text = f"ROLLBACK: {_get(f, 'reason')}, val loss {_num(f, 'val_loss')}; pruned {names}"
    return "rollback", text


def _update(f: EventFields) -> tuple[Level, str]:
    update = f.data.get("update")
    number = update + 1 if isinstance(update, int) else "?"
    reward, accuracy = _num(f, "mean_reward", "+.3f"), _num(f, "mean_accuracy", ".2f")
    return "info", f"update {number}: mean reward {reward}, accuracy {accuracy}%"


_LINES: dict[str, Callable[[EventFields], tuple[Level, str] | None]] = {
    "engine.epoch": _action,
    "seed.germinated": lambda f: (
        "seed",
        f"germinated {_get(f, 'seed_id')} ({_get(f, 'blueprint_id')}, "
        f"{_get(f, 'seed_params')} params)",
    ),
    "seed.stage_changed": lambda f: (
        "seed",
        f"{_get(f, 'slot_id')}: {_get(f, 'from_stage')} -> {_get(f, 'to_stage')}",
    ),
    "seed.fossilized": lambda f: (
        "seed",
        f"fossilized {_get(f, 'seed_id')} (contribution {_num(f, 'contribution', '+.2f')} pp)",
    ),
    "seed.pruned": _pruned,
    "seed.non_finite": lambda f: (
        "warning",
        f"non-finite {_get(f, 'cause')} in {_get(f, 'seed_id')}",
    ),
    "governor.panic": lambda f: (
        "warning",
        f"governor panic: {_get(f, 'reason')} (val loss {_num(f, 'val_loss')})",
    ),
    "governor.rollback": _rollback,
    "signals.plateau": lambda f: (
        "info",
        f"plateau: {_get(f, 'plateau_epochs')} epochs at {_num(f, 'val_accuracy', '.2f')}%",
    ),
    "train.episode": lambda f: (
        "warning" if f.data.get("lost") or f.data.get("rolled_back") else "info",
        f"episode ended: accuracy {_num(f, 'val_accuracy', '.2f')}%, reward "
        f"{_num(f, 'reward', '+.3f')}"
        + (", rolled back" if f.data.get("rolled_back") else "")
        + (", LOST" if f.data.get("lost") else ""),
    ),
    "train.update": _update,
    "train.imitation": lambda f: (
        "info",
        f"imitated {_get(f, 'teacher')}: held-out agreement {_num(f, 'agreement_heldout', '.1%')}",
    ),
    "train.anomaly": lambda f: (
        "warning",
        f"anomaly: {_get(f, 'kind')} ({_num(f, 'value')})",
    ),
    "reward.hacking_suspected": lambda f: (
        "warning",
        f"reward hacking suspected: {_get(f, 'kind')} in {_get(f, 'slot_id')}",
    ),
    "run.started": lambda f: ("info", f"esper {_get(f, 'command')} started"),
    "run.resumed": lambda f: ("info", f"resumed at {_get(f, 'position')}"),
    "run.ended": lambda f: (
        "warning" if f.data.get("status") != "finished" else "info",
        f"run {_get(f, 'status')} after {_num(f, 'wall_time_s', '.1f')} s",
    ),
}


@attrs.define
class DecisionLog:
    entries: deque[Decision] = attrs.field(factory=lambda: deque(maxlen=MAX_DECISIONS))
    #: Lines ever added (the log keeps the last `MAX_DECISIONS`).
    total: int = 0

    def add(self, f: EventFields, arm: str | None) -> Decision | None:
        """The line of one event (None for events the log leaves out), appended."""
        make = _LINES.get(f.type)
        line = make(f) if make is not None else None
        if line is None:
            return None
        epoch = f.data.get("epoch")
        decision = Decision(
            epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
            arm=arm,
            level=line[0],
            text=line[1],
            line=f.where,
        )
        self.entries.append(decision)
        self.total += 1
        return decision
