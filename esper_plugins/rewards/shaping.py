"""Pieces shared by the reward plugins: stage potentials (PBRS), the gamma rule, rents.

Potential-based shaping (Ng, Harada and Russell, 1999) adds ``w * (gamma * phi(s') - phi(s))``
to each step's reward. Summed over an episode it telescopes to a function of the first and
last states only, so it cannot change which policy is optimal, provided ``gamma`` is the
agent's own discount. `resolve_gamma` enforces that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from esper.plugin import Op, RewardContext, Stage

#: Base potential of each stage (spec §5.4). Stages without a seed, and the removal cooldown,
#: are 0: a pruned seed forfeits everything it had accumulated.
STAGE_POTENTIALS: Mapping[Stage, float] = MappingProxyType(
    {
        Stage.GERMINATED: 1.0,
        Stage.TRAINING: 2.0,
        Stage.BLENDING: 3.5,
        Stage.HOLDING: 5.5,
        Stage.FOSSILIZED: 6.0,
    }
)
#: Potential added per epoch spent in a seed stage, and its cap.
EPOCH_POTENTIAL = 0.3
EPOCH_POTENTIAL_CAP = 2.0

#: What each executed op costs (spec §5.4 intervention-cost table); all <= 0, WAIT 0.
INTERVENTION_COSTS: Mapping[Op, float] = MappingProxyType(
    {
        Op.WAIT: 0.0,
        Op.GERMINATE: -0.15,
        Op.SET_ALPHA_TARGET: -0.005,
        Op.PRUNE: -0.005,
        Op.FOSSILIZE: -0.01,
        Op.ADVANCE: 0.0,
    }
)

#: Stages whose seed output is (or may be) blended in: they pay compute rent.
RENTED_STAGES = frozenset({Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED})
LIVE_STAGES = frozenset({Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING})
#: Floor of the host size in parameter ratios, so a toy host cannot make rents explode.
MIN_HOST_PARAMS = 200

SlotState = tuple[Stage, int]


def resolve_gamma(config_gamma: float | None, agent_gamma: float) -> float:
    """The shaping discount: the agent's, which a configured value must equal.

    Raises `ValueError` (never an ``assert``, which ``python -O`` would strip) when the two
    differ or the agent's discount is not in (0, 1].
    """
    if (
        isinstance(agent_gamma, bool)
        or not isinstance(agent_gamma, int | float)
        or not math.isfinite(agent_gamma)
        or not 0 < agent_gamma <= 1
    ):
        raise ValueError(f"the agent's gamma must be a discount in (0, 1], got {agent_gamma!r}")
    if config_gamma is not None and config_gamma != agent_gamma:
        raise ValueError(
            f"PBRS gamma ({config_gamma}) must equal the agent's gamma ({agent_gamma}) for "
            "policy invariance (Ng et al., 1999); leave the reward's gamma unset to use the "
            "agent's"
        )
    return float(agent_gamma)


def potential(stage: Stage, epochs_in_stage: int = 0, *, epoch_term: bool = True) -> float:
    """phi(stage, k) = P[stage] + min(0.3 k, 2), and 0 for a stage without a live or fossil seed."""
    base = STAGE_POTENTIALS.get(stage, 0.0)
    if base == 0.0 or not epoch_term:
        return base
    return base + min(EPOCH_POTENTIAL * max(epochs_in_stage, 0), EPOCH_POTENTIAL_CAP)


def shaping_bonus(previous: float, current: float, *, gamma: float, weight: float) -> float:
    """One step of potential-based shaping: ``weight * (gamma * current - previous)``."""
    return weight * (gamma * current - previous)


def logistic(x: float) -> float:
    """1 / (1 + exp(-x)) for any float, never overflowing (exp only sees arguments <= 0)."""
    if math.isnan(x):
        raise ValueError("logistic of NaN")
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def stage_after(context: RewardContext, slot_id: str) -> Stage:
    """A slot's stage after the action and the lifecycle tick (absent from the map: empty)."""
    name = context.stages_after.get(slot_id)
    return Stage.DORMANT if name is None else Stage.parse(name)


def slot_ids(context: RewardContext) -> list[str]:
    """Every slot the step mentions, in the order the controller saw them."""
    ids = [view.slot_id for view in context.signals.slots]
    ids.extend(sid for sid in context.stages_after if sid not in ids)
    return ids


class StagePotentials:
    """PBRS over the stages of every slot, with the per-episode memory that needs.

    The state after step t is the stage each slot has after the action and the tick, with its
    epochs in stage (0 right after a transition). The bonus of step t is
    ``weight * sum_slots(gamma * phi(after_t) - phi(after_{t-1}))``: a transition is paid on the
    step whose action (or tick) caused it, and after a transition the "previous" state is the
    old stage with its final epoch count, as the spec asks. The first step of an episode takes
    the state the controller observed as its previous state. Summed over an episode the bonuses
    telescope (exactly, undiscounted, at gamma = 1).

    A context whose epoch does not come after the previous one starts a new episode, so a
    runner that forgets `reset` does not leak one episode's potentials into the next.
    """

    def __init__(self, *, gamma: float, weight: float, epoch_term: bool = True) -> None:
        self.gamma = gamma
        self.weight = weight
        self.epoch_term = epoch_term
        self._last: dict[str, SlotState] = {}
        self._last_epoch: int | None = None

    def reset(self) -> None:
        self._last.clear()
        self._last_epoch = None

    def phi(self, state: SlotState) -> float:
        return potential(state[0], state[1], epoch_term=self.epoch_term)

    def __call__(self, context: RewardContext) -> float:
        if self._last_epoch is not None and context.epoch <= self._last_epoch:
            self.reset()
        self._last_epoch = context.epoch
        observed = {view.slot_id: view for view in context.signals.slots}
        total = 0.0
        for sid in slot_ids(context):
            view = observed.get(sid)
            before: SlotState = (
                (view.stage, view.epochs_in_stage) if view is not None else (Stage.DORMANT, 0)
            )
            after_stage = stage_after(context, sid)
            after: SlotState = (after_stage, before[1] if after_stage is before[0] else 0)
            previous = self._last.get(sid, before)
            total += shaping_bonus(
                self.phi(previous), self.phi(after), gamma=self.gamma, weight=self.weight
            )
            self._last[sid] = after
        return total


def seed_age(context: RewardContext, slot_id: str) -> int | None:
    """Epochs since the slot's seed germinated (None when unknown)."""
    germinated = context.germinated_at.get(slot_id)
    if germinated is not None:
        return max(context.epoch - germinated, 0)
    try:
        view = context.signals.slot(slot_id)
    except KeyError:
        return None
    return None if view.stage is Stage.DORMANT else view.epochs_total


def param_ratio(params: float, host_params: int) -> float:
    """Parameters as a fraction of the host's (host floored at `MIN_HOST_PARAMS`)."""
    return params / max(host_params, MIN_HOST_PARAMS)


def log_rent(growth: float, *, weight: float, cap: float) -> float:
    """-min(weight * ln(1 + growth), cap): a rent that grows slowly with added parameters."""
    return -min(weight * math.log1p(max(growth, 0.0)), cap)
