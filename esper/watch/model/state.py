"""`RunState`: everything the dashboard shows about one run, folded from its events in order.

Events of an arm's epoch are attributed to the arm: an event with an ``arm`` field names it,
one with an ``env_id`` (``esper train``) belongs to that environment's arm; a seed or governor
event of ``esper run`` carries neither, and belongs to the arm of the next ``engine.epoch`` event
(each arm's epoch runs to its end before the next arm's starts, as `esper.report.events` reads
it too). Until that event arrives its decision line shows no arm.

A malformed event (a field missing or of the wrong type) is skipped and counted in `problems`;
the dashboard never stops on a bad line.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from esper.errors import TelemetryError
from esper.report.fields import EventFields
from esper.report.parsing import epoch_point
from esper.watch.model.curves import Curves
from esper.watch.model.decisions import DecisionLog
from esper.watch.model.envs import EnvTable
from esper.watch.model.lanes import Lanes
from esper.watch.model.overview import Overview
from esper.watch.model.ppo import PpoHistory

#: Event types that belong to an arm even when they carry no arm and no environment.
ARM_PREFIXES = ("seed.", "governor.", "reward.")
MAX_PROBLEMS = 100


class RunState:
    """The fold of one run's events."""

    def __init__(self) -> None:
        self.overview = Overview()
        self.curves = Curves()
        self.lanes = Lanes()
        self.decisions = DecisionLog()
        self.ppo = PpoHistory()
        self.envs = EnvTable()
        #: The last `MAX_PROBLEMS` lines that were skipped, and how many were.
        self.problems: deque[str] = deque(maxlen=MAX_PROBLEMS)
        self.problem_count = 0
        #: Bumped by every event taken in: a view redraws only when it changed.
        self.version = 0
        self._arms: dict[int, str] = {}
        self._pending: list[Callable[[str], None]] = []

    @property
    def training(self) -> bool:
        """Whether the run is ``esper train`` (its first ``run.started`` says so)."""
        return self.overview.command == "train"

    def arms(self) -> list[str]:
        """Arms (or environments) in the order they first reported an epoch."""
        return list(self.curves.arms)

    def add_problems(self, problems: list[str]) -> None:
        self.problems.extend(problems)
        self.problem_count += len(problems)
        self.version += bool(problems)

    def add(self, data: dict[str, Any], where: str) -> None:
        """Take in one checked JSON event object; ``where`` is its ``"<path>:<line>"``."""
        f = EventFields(data, where)
        try:
            self._add(f)
        except TelemetryError as exc:
            self.add_problems([str(exc)])
        self.version += 1

    def _add(self, f: EventFields) -> None:
        kind = f.type
        if kind == "engine.epoch":
            # Checked before anything changes, so a malformed epoch leaves no trace.
            point = epoch_point(f)
        self.overview.add(f)
        self.curves.episodic = self.training
        if kind == "run.started":
            # Events of an epoch the stopped session never finished keep no arm.
            self._pending.clear()
            self.ppo.started()
        elif kind == "engine.epoch":
            env_id = f.opt_integer("env_id")
            if env_id is not None:
                self._arms[env_id] = point.arm
            else:
                for attribute in self._pending:
                    attribute(point.arm)
                self._pending.clear()
            self.curves.add(point)
            self.lanes.epoch(point)
            self.envs.epoch(point, env_id)
        elif kind == "train.episode":
            self.envs.episode(f, self._arm_of(f) or "?")
            self.ppo.episode(f)
        elif kind == "train.update":
            self.ppo.update(f)
        elif kind == "train.imitation":
            self.ppo.imitation = dict(f.data)
        elif kind == "seed.germinated":
            slot, blueprint = f.text("slot_id"), f.text("blueprint_id")
            self._for_arm(f, lambda arm: self.lanes.germinated(arm, slot, blueprint))
        elif kind == "governor.rollback":
            self._for_arm(f, self.envs.rollback)
        decision = self.decisions.add(f, self._arm_of(f))
        if decision is not None and decision.arm is None:

            def name_arm(arm: str) -> None:
                decision.arm = arm

            self._for_arm(f, name_arm)

    def _arm_of(self, f: EventFields) -> str | None:
        """The arm an event names, or that of its environment; None if neither says."""
        arm = f.data.get("arm")
        if isinstance(arm, str):
            return arm
        env_id = f.data.get("env_id")
        if isinstance(env_id, int) and not isinstance(env_id, bool):
            return self._arms.get(env_id, f"env{env_id}")
        return None

    def _for_arm(self, f: EventFields, apply: Callable[[str], None]) -> None:
        """``apply(arm)`` now, or at the next epoch's event when the arm is not known yet."""
        arm = self._arm_of(f)
        if arm is not None:
            apply(arm)
        elif f.type.startswith(ARM_PREFIXES):
            self._pending.append(apply)
