"""What one environment's epoch reports: `Observed` after its first half (train, evaluate,
judge), `EpochResult` once the controller's action is executed and the lifecycle ticked, and
the ``engine.epoch`` event made from it. Each describes the state the epoch ends in: after the
action and the lifecycle tick."""

from __future__ import annotations

import attrs

from esper.contracts.actions import Action
from esper.contracts.signals import Signals
from esper.engine.compute import ComputeTally
from esper.engine.events import EpochCompleted
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import Stage


@attrs.frozen(kw_only=True)
class Observed:
    """The first half of an epoch: trained, evaluated, judged; the controller's turn next."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    #: Each blended seed's contribution (accuracy with it minus without it, percent points).
    contributions: dict[str, float]
    #: Accuracy with every blended seed switched off (None when none is blended).
    all_off_accuracy: float | None
    #: The governor rolled the host back this epoch (the controller does not act).
    rolled_back: bool
    #: What the controller sees (pre-action).
    signals: Signals
    #: Shapley value of each blended seed, at the episode's last epoch only.
    shapley: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class EpochResult:
    """A finished epoch: what was observed, the action taken, and the state after it."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    rolled_back: bool
    action: Action
    action_ok: bool
    signals: Signals
    contributions: dict[str, float] = attrs.field(factory=dict)
    all_off_accuracy: float | None = None
    params_host: int = 0
    params_total: int = 0
    #: Per slot, after the action and the lifecycle tick (absent: empty slot).
    seed_params: dict[str, int] = attrs.field(factory=dict)
    alphas_before: dict[str, float] = attrs.field(factory=dict)
    alphas_after: dict[str, float] = attrs.field(factory=dict)
    stages_after: dict[str, str] = attrs.field(factory=dict)
    germinated_at: dict[str, int] = attrs.field(factory=dict)
    shapley: dict[str, float] = attrs.field(factory=dict)
    #: FLOPs spent since the run began, training, evaluating and deciding
    #: (`esper.engine.compute`).
    flops_train: int = 0
    flops_evaluate: int = 0
    flops_control: int = 0


def alphas(model: MorphogeneticModel) -> dict[str, float]:
    """Each live seed's alpha, by slot."""
    return {sid: float(r.state.alpha) for sid, r in model.records.items() if r.state is not None}


def epoch_result(
    model: MorphogeneticModel,
    observed: Observed,
    action: Action,
    ok: bool,
    alphas_before: dict[str, float],
    compute: ComputeTally,
) -> EpochResult:
    """The `EpochResult` of an epoch whose action was executed and lifecycle ticked."""
    epoch = observed.epoch
    counts = model.parameter_counts()
    live = {sid: r for sid, r in model.records.items() if r.state is not None}
    return EpochResult(
        epoch=epoch,
        train_loss=observed.train_loss,
        train_accuracy=observed.train_accuracy,
        val_loss=observed.val_loss,
        val_accuracy=observed.val_accuracy,
        rolled_back=observed.rolled_back,
        action=action,
        action_ok=ok,
        signals=observed.signals,
        contributions=observed.contributions,
        all_off_accuracy=observed.all_off_accuracy,
        params_host=counts.host,
        params_total=counts.total,
        seed_params={
            sid: sum(p.numel() for p in r.module.parameters())
            for sid, r in live.items()
            if r.module is not None
        },
        alphas_before=alphas_before,
        alphas_after=alphas(model),
        stages_after={sid: r.state.stage.name for sid, r in live.items() if r.state},
        germinated_at={sid: epoch - r.state.epochs_total for sid, r in live.items() if r.state},
        shapley=observed.shapley,
        flops_train=compute.train,
        flops_evaluate=compute.evaluate,
        flops_control=compute.control,
    )


def epoch_completed(model: MorphogeneticModel, result: EpochResult, *, arm: str) -> EpochCompleted:
    """The ``engine.epoch`` event of ``result`` (every slot's stage, empty ones DORMANT)."""
    stages = {
        sid: (r.state.stage.name if r.state is not None else Stage.DORMANT.name)
        for sid, r in model.records.items()
    }
    return EpochCompleted(
        epoch=result.epoch,
        arm=arm,
        train_loss=result.train_loss,
        train_accuracy=result.train_accuracy,
        val_loss=result.val_loss,
        val_accuracy=result.val_accuracy,
        params_total=result.params_total,
        params_host=result.params_host,
        contributions=result.contributions,
        action=result.action.op.name,
        action_slot=result.action.slot,
        action_ok=result.action_ok,
        stages=stages,
        alphas=result.alphas_after,
        flops_train=result.flops_train,
        flops_evaluate=result.flops_evaluate,
        flops_control=result.flops_control,
    )
