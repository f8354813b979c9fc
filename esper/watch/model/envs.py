"""The status of each arm (``esper run``) or environment (``esper train``), one row each.

From the arm's last ``engine.epoch`` (epoch, accuracy, loss, parameters, live seeds, last
action), its ``train.episode`` events (episodes, last reward and final accuracy, lost) and the
governor's rollbacks attributed to it.
"""

from __future__ import annotations

import attrs

from esper.report.fields import EventFields
from esper.report.records import EpochPoint
from esper.rundir.scan import as_float

#: Stages of a slot whose seed no longer trains or blends.
SETTLED = frozenset({"DORMANT", "UNKNOWN", "FOSSILIZED", "PRUNED", "EMBARGOED", "RESETTING"})


@attrs.define
class EnvStatus:
    arm: str
    env_id: int | None = None
    epoch: int = 0
    val_accuracy: float | None = None
    val_loss: float | None = None
    params_total: int = 0
    params_host: int = 0
    #: Seeds training, blending or holding now.
    live_seeds: int = 0
    fossilized: int = 0
    #: The last action other than a wait, with its epoch (``GERMINATE r0c0@4``).
    last_action: str = "-"
    episodes: int = 0
    last_reward: float | None = None
    #: Validation accuracy at the end of the last finished episode.
    episode_accuracy: float | None = None
    rollbacks: int = 0
    lost: bool = False


@attrs.define
class EnvTable:
    rows: dict[str, EnvStatus] = attrs.field(factory=dict)

    def _row(self, arm: str) -> EnvStatus:
        return self.rows.setdefault(arm, EnvStatus(arm=arm))

    def epoch(self, point: EpochPoint, env_id: int | None) -> None:
        row = self._row(point.arm)
        row.env_id = env_id
        row.epoch = point.epoch
        row.val_accuracy, row.val_loss = point.val_accuracy, point.val_loss
        row.params_total, row.params_host = point.params_total, point.params_host
        row.live_seeds = sum(stage not in SETTLED for stage in point.stages.values())
        row.fossilized = sum(stage == "FOSSILIZED" for stage in point.stages.values())
        if point.action != "WAIT":
            slot = f" {point.action_slot}" if point.action_slot else ""
            row.last_action = f"{point.action}{slot}@{point.epoch}"

    def episode(self, f: EventFields, arm: str) -> None:
        row = self._row(arm)
        row.episodes += 1
        row.last_reward = as_float(f.data.get("reward"))
        row.episode_accuracy = as_float(f.data.get("val_accuracy"))
        row.lost = bool(f.data.get("lost"))

    def rollback(self, arm: str) -> None:
        self._row(arm).rollbacks += 1
