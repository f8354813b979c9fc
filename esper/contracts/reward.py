"""The reward contract for training a controller.

A reward plugin's factory is called as ``factory(config, gamma=float)`` with the agent's
discount factor and returns a `RewardFunction`. A reward that shapes with potentials (PBRS)
must use that same ``gamma``: Ng, Harada and Russell (1999) show that shaping leaves the
optimal policy unchanged only when the shaping discount equals the agent's. Factories check
this when the config is validated and raise `ValueError` otherwise.

Each epoch of each environment, after the controller's action was executed, the runner calls
``reward(context)`` with a `RewardContext`: plain data (no tensors, no model), so rewards can
be computed wherever the environment runs and tested without one. The reward is judged on the
state the controller saw when it chose (``context.signals``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping

import attrs

from esper.contracts.actions import Action, Op
from esper.contracts.signals import Signals, SlotView


@attrs.frozen(kw_only=True)
class RewardContext:
    """Everything a reward may judge one step by."""

    #: What the controller observed when it chose (pre-action).
    signals: Signals
    #: The action the controller chose.
    action: Action
    #: Whether the engine executed it (False: the lifecycle refused it, e.g. a gate failed).
    action_ok: bool
    #: Trainable parameters of the host alone.
    host_params: int
    #: Parameters of the seed in each slot after the action (0 for an empty slot).
    seed_params: Mapping[str, int] = attrs.field(factory=dict)
    #: Each slot's alpha before and after the epoch's lifecycle tick.
    alphas_before: Mapping[str, float] = attrs.field(factory=dict)
    alphas_after: Mapping[str, float] = attrs.field(factory=dict)
    #: Each slot's stage after the action and the lifecycle tick.
    stages_after: Mapping[str, str] = attrs.field(factory=dict)
    #: The epoch at which the seed in each slot germinated (absent: no seed).
    germinated_at: Mapping[str, int] = attrs.field(factory=dict)
    #: Validation accuracy with every blended seed (alpha > 0) switched off, in percent;
    #: None when no seed is blended. ``val_accuracy - this`` is the counterfactual total
    #: improvement the seeds give together.
    all_off_accuracy: float | None = None
    #: Validation accuracy at the episode's first epoch (percent), for terminal rewards.
    initial_accuracy: float | None = None
    #: Validation loss at the episode's first epoch, for the loss family's terminal reward.
    initial_loss: float | None = None

    @property
    def epoch(self) -> int:
        return self.signals.epoch

    @property
    def max_epochs(self) -> int:
        return self.signals.max_epochs

    @property
    def terminal(self) -> bool:
        """The episode's last epoch (truncation by the time limit)."""
        return self.signals.epoch >= self.signals.max_epochs

    @property
    def op(self) -> Op:
        """The op that counts for the reward: the chosen op if executed, else WAIT."""
        return self.action.op if self.action_ok else Op.WAIT

    @property
    def target(self) -> SlotView | None:
        """The slot the action names, as the controller saw it (None for slot-less actions)."""
        if self.action.slot is None:
            return None
        try:
            return self.signals.slot(self.action.slot)
        except KeyError:
            return None

    @property
    def counterfactual_total(self) -> float | None:
        """Validation accuracy gained from all blended seeds together (percent points)."""
        if self.all_off_accuracy is None:
            return None
        return self.signals.val_accuracy - self.all_off_accuracy


@attrs.frozen(kw_only=True)
class RewardBreakdown:
    """A reward and the named components it is the sum of (for telemetry and tests)."""

    components: Mapping[str, float]

    @property
    def total(self) -> float:
        return math.fsum(self.components.values())


#: Ransomware pattern (spec): a seed the host now depends on (removing it costs more than this,
#: in percent points) while all seeds together make the model worse than this.
RANSOM_CONTRIBUTION = 0.1
RANSOM_TOTAL = -0.2


def suspicions(context: RewardContext, breakdown: RewardBreakdown) -> list[tuple[str, str | None]]:
    """Signs that a controller may be gaming the reward, as ``(kind, slot)`` pairs.

    ``ratio_penalty``: the reward penalised a contribution far larger than the improvement it
    explains. ``ransomware``: a seed the model depends on while the seeds together hurt.
    """
    found: list[tuple[str, str | None]] = []
    if breakdown.components.get("ratio_penalty", 0.0) < 0.0:
        found.append(("ratio_penalty", context.action.slot))
    total = context.counterfactual_total
    if total is not None and total < RANSOM_TOTAL:
        for view in context.signals.slots:
            if view.contribution is not None and view.contribution > RANSOM_CONTRIBUTION:
                found.append(("ransomware", view.slot_id))
    return found


class RewardFunction(abc.ABC):
    """Maps one executed step to a scalar reward (raw scale; the agent normalises)."""

    @abc.abstractmethod
    def __call__(self, context: RewardContext) -> RewardBreakdown:
        """The reward for one step, with its components."""

    def reset(self) -> None:
        """Forget per-episode state (a new host-training run starts)."""
