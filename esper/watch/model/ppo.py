"""The learner of ``esper train``: one `UpdatePoint` per agent update, with its action mix.

A ``train.update`` event carries the update's mean reward and accuracy and the agent's
``metrics`` (for PPO: ``approx_kl``, ``clip_fraction``, ``explained_variance``,
``entropy_<head>`` per action head, losses, ...); the action mix is the sum of the ``actions`` of
the ``train.episode`` events since the previous update. A resumed run replays the updates after
its last checkpoint: a replayed update replaces what the stopped process logged from it on.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import attrs

from esper.report.fields import EventFields, is_int
from esper.report.palette import OP_ORDER
from esper.report.parsing import update_point
from esper.report.records import UpdatePoint

#: ``entropy_*`` metrics that are not a head's entropy.
NOT_HEADS = frozenset({"entropy_loss", "entropy_floor_penalty", "entropy_coef"})


@attrs.define
class PpoHistory:
    updates: list[UpdatePoint] = attrs.field(factory=list)
    #: Actions of the episodes that ended since the last update.
    pending: Counter[str] = attrs.field(factory=Counter)
    #: The ``train.imitation`` event's fields, if the run imitated a teacher first.
    imitation: dict[str, Any] | None = None

    def started(self) -> None:
        """A session began: episodes of a killed session never reach an update."""
        self.pending.clear()

    def episode(self, f: EventFields) -> None:
        self.pending.update(f.mapping("actions", is_int, "integers"))

    def update(self, f: EventFields) -> None:
        point = update_point(f, with_actions=False)
        while self.updates and self.updates[-1].update >= point.update:
            self.updates.pop()
        self.updates.append(attrs.evolve(point, actions=dict(self.pending)))
        self.pending.clear()

    def heads(self) -> list[str]:
        """Action heads with an ``entropy_<head>`` metric, in the agent's order."""
        seen: dict[str, None] = {}
        for point in self.updates:
            for key in point.metrics:
                if key.startswith("entropy_") and key not in NOT_HEADS:
                    seen.setdefault(key.removeprefix("entropy_"), None)
        return list(seen)

    def series(self, metric: str) -> list[float]:
        """A metric per update (``mean_reward``, ``mean_accuracy`` or a ``metrics`` key); NaN
        where an update lacks it."""
        out: list[float] = []
        for point in self.updates:
            if metric in ("mean_reward", "mean_accuracy"):
                out.append(float(getattr(point, metric)))
            else:
                out.append(point.metrics.get(metric, math.nan))
        return out

    def action_mix(self) -> list[tuple[str, int]]:
        """The last update's actions by operation (the episodes since, while none has ended)."""
        counts = self.updates[-1].actions if self.updates else dict(self.pending)
        ops = sorted(counts, key=lambda op: (OP_ORDER.index(op) if op in OP_ORDER else 99, op))
        return [(op, counts[op]) for op in ops]
