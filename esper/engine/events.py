"""The training engine's telemetry events (no torch: readers and tools import them freely).

Environments emit ``engine.epoch``, ``signals.*`` and ``attribution.shapley``; the lock-step
loop ``train.episode`` and ``reward.hacking_suspected``; ``esper train`` ``train.update`` and
``train.anomaly``. `esper.telemetry.read_events` turns them back into these records.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from esper.telemetry import Event
from esper.telemetry.events import register_event


@register_event("engine.epoch")
@attrs.frozen(kw_only=True)
class EpochCompleted(Event):
    """One environment finished one epoch."""

    arm: str
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    params_total: int
    params_host: int
    contributions: dict[str, float] = attrs.field(factory=dict)
    action: str = "WAIT"
    action_slot: str | None = None
    action_ok: bool = True
    #: Each slot's stage and alpha at the end of the epoch (after the action and the tick).
    stages: dict[str, str] = attrs.field(factory=dict)
    alphas: dict[str, float] = attrs.field(factory=dict)
    #: FLOPs this arm has spent since the run began: training, evaluating and the controller's
    #: decisions.
    flops_train: int = 0
    flops_evaluate: int = 0
    flops_control: int = 0


@register_event("signals.plateau")
@attrs.frozen(kw_only=True)
class PlateauDetected(Event):
    """Validation accuracy has not improved by the plateau threshold for a while."""

    arm: str
    plateau_epochs: int
    val_accuracy: float


@register_event("signals.host_stabilized")
@attrs.frozen(kw_only=True)
class HostStabilized(Event):
    """The host's loss settled: controllers that wait for stabilisation may now grow."""

    arm: str
    val_loss: float


@register_event("attribution.shapley")
@attrs.frozen(kw_only=True)
class ShapleyComputed(Event):
    """Shapley values of the blended seeds at an episode's last epoch (accuracy, pp)."""

    arm: str
    values: dict[str, float]
    std: dict[str, float]
    exact: bool
    #: Pairwise interactions ``"a|b" -> f({a,b}) - f({a}) - f({b}) + f({})``.
    interactions: dict[str, float] = attrs.field(factory=dict)


@register_event("train.episode")
@attrs.frozen(kw_only=True)
class EpisodeFinished(Event):
    """One environment's episode ended (time limit, a governor rollback, or a lost environment)."""

    seed: int
    epochs: int
    val_accuracy: float
    val_loss: float
    reward: float
    rolled_back: bool
    params_total: int
    seeds_fossilized: int
    actions: dict[str, int] = attrs.field(factory=dict)
    #: The runner lost the environment (a remote worker died); the episode was truncated there.
    lost: bool = False
    #: Training FLOPs of the episode's host training (0 where the runner does not count them).
    flops_train: int = 0
    #: The controller's FLOPs on the episode's decisions.
    flops_control: int = 0


@register_event("reward.hacking_suspected")
@attrs.frozen(kw_only=True)
class RewardHackingSuspected(Event):
    """A step looked like reward gaming (see `esper.contracts.reward.suspicions`)."""

    severity: ClassVar[str] = "warning"
    kind: str
    slot_id: str | None
    contribution: float | None
    counterfactual_total: float | None
    action: str


@register_event("train.imitation")
@attrs.frozen(kw_only=True)
class ImitationFinished(Event):
    """The imitation warm start fitted the controller to its teacher (before any PPO update)."""

    teacher: str
    episodes: int
    decisions: int
    #: The share of the teacher's decisions the controller chose exactly, before the fit (on
    #: the taught episodes) and after it (on held-out episodes; None: none held out).
    agreement_before: float | None
    agreement_heldout: float | None


#: The fields of an imitation record (`esper.recipes.imitation.summarize`) the event carries.
IMITATION_EVENT_KEYS = ("teacher", "episodes", "decisions", "agreement_before", "agreement_heldout")


@register_event("train.update")
@attrs.frozen(kw_only=True)
class UpdateCompleted(Event):
    """The agent finished one update from one rollout."""

    update: int
    episodes: int
    mean_reward: float
    mean_accuracy: float
    rollbacks: int
    metrics: dict[str, float] = attrs.field(factory=dict)
    #: Host-training FLOPs of the update's episodes (the agent's own update not counted).
    flops_train: int = 0


@register_event("train.anomaly")
@attrs.frozen(kw_only=True)
class TrainingAnomaly(Event):
    """An update whose figures say the learner is in trouble.

    ``kind``: ``numerical_instability`` (an update skipped for non-finite values),
    ``ratio_explosion`` / ``ratio_collapse`` (a policy ratio beyond ``RATIO_LIMITS``),
    ``value_collapse`` (explained variance below ``VALUE_COLLAPSE_EV`` after warm-up).
    """

    severity: ClassVar[str] = "warning"
    update: int
    kind: str
    value: float


@register_event("engine.compile")
@attrs.frozen(kw_only=True)
class GraphsCompiled(Event):
    """``--compile`` compiled new graphs during an epoch (a new slot configuration, usually).

    ``at`` is the epoch (``esper run``) or the update (``esper train``) that compiled them;
    ``total`` counts the run's graphs so far; at ``limit``, configurations not yet compiled
    run eagerly (see `esper.engine.compilation`).
    """

    at: int
    new: int
    total: int
    limit: int
