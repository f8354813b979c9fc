"""Telemetry events of the seed lifecycle.

`SeedState` emits these through its optional ``emit`` callback (normally
`esper.telemetry.TelemetryBus.emit`):

* ``seed.gate_evaluated`` on every gate evaluation, passed or not;
* ``seed.stage_changed`` on every stage change;
* ``seed.germinated``, ``seed.fossilized``, ``seed.pruned`` after the stage change into
  GERMINATED, FOSSILIZED and PRUNED.

The model emits ``seed.non_finite`` when a seed's output or gradients held an inf or NaN
(`esper.growth.model.MorphogeneticModel.prune_non_finite`).

Every field is a plain JSON type; stages and gates are given by name (``"TRAINING"``, ``"G2"``).
`gate_evaluated_event`, `stage_changed_event` and `arrival_event` build the events of a
`SeedState` from the record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from esper.lifecycle.stages import Stage
from esper.telemetry.events import Event, register_event

if TYPE_CHECKING:
    from esper.lifecycle.gates import GateResult
    from esper.lifecycle.state import SeedState


@attrs.frozen(kw_only=True)
class SeedEvent(Event):
    """Identity fields every seed event carries (not itself an event type)."""

    seed_id: str
    slot_id: str
    blueprint_id: str


@register_event("seed.stage_changed")
@attrs.frozen(kw_only=True)
class SeedStageChanged(SeedEvent):
    """A seed moved from ``from_stage`` (after ``epochs_in_stage`` epochs there) to ``to_stage``."""

    from_stage: str
    to_stage: str
    epochs_in_stage: int
    epochs_total: int


@register_event("seed.gate_evaluated")
@attrs.frozen(kw_only=True)
class SeedGateEvaluated(SeedEvent):
    """A quality gate was evaluated for a move from ``stage`` to ``target_stage``."""

    gate: str
    stage: str
    target_stage: str
    passed: bool
    score: float
    strict: bool
    checks_passed: list[str] = attrs.field(factory=list)
    checks_failed: list[str] = attrs.field(factory=list)
    message: str = ""


@register_event("seed.germinated")
@attrs.frozen(kw_only=True)
class SeedGerminated(SeedEvent):
    """A seed was created in a slot. ``seed_params`` is its trainable parameter count, if known."""

    seed_params: int | None = None


@register_event("seed.fossilized")
@attrs.frozen(kw_only=True)
class SeedFossilized(SeedEvent):
    """A seed became a permanent part of the model."""

    contribution: float | None
    epochs_total: int
    seed_params: int | None = None


@register_event("seed.pruned")
@attrs.frozen(kw_only=True)
class SeedPruned(SeedEvent):
    """A seed was removed from ``from_stage``; ``auto`` marks removals the policy did not choose."""

    from_stage: str
    reason: str
    initiator: str
    auto: bool
    contribution: float | None
    epochs_total: int


@register_event("seed.non_finite")
@attrs.frozen(kw_only=True)
class SeedNonFinite(SeedEvent):
    """A seed's output (``cause="output"``) or gradients (``"gradients"``) held an inf or NaN
    during an epoch. ``pruned`` says whether the lifecycle removed it (a fossilized seed is
    permanent and stays: the governor watches the host)."""

    stage: str
    cause: str
    pruned: bool


def gate_evaluated_event(
    state: SeedState, target: Stage, result: GateResult, *, strict: bool, epoch: int | None
) -> SeedGateEvaluated:
    """The evaluation ``result`` of the gate of ``state``'s move to ``target``."""
    return SeedGateEvaluated(
        epoch=epoch,
        seed_id=state.seed_id,
        slot_id=state.slot_id,
        blueprint_id=state.blueprint_id,
        gate=result.gate.name,
        stage=state.stage.name,
        target_stage=target.name,
        passed=result.passed,
        score=result.score,
        strict=strict,
        checks_passed=list(result.checks_passed),
        checks_failed=list(result.checks_failed),
        message=result.message,
    )


def stage_changed_event(
    state: SeedState, source: Stage, target: Stage, spent: int, *, epoch: int | None
) -> SeedStageChanged:
    """``state`` has just moved from ``source`` (after ``spent`` epochs there) to ``target``."""
    return SeedStageChanged(
        epoch=epoch,
        seed_id=state.seed_id,
        slot_id=state.slot_id,
        blueprint_id=state.blueprint_id,
        from_stage=source.name,
        to_stage=target.name,
        epochs_in_stage=spent,
        epochs_total=state.epochs_total,
    )


def arrival_event(
    state: SeedState, source: Stage, target: Stage, *, epoch: int | None
) -> SeedEvent | None:
    """The event that follows ``state``'s stage change from ``source`` into ``target``, for the
    stages that have one (GERMINATED, FOSSILIZED, PRUNED)."""
    if target is Stage.GERMINATED:
        return SeedGerminated(
            epoch=epoch,
            seed_id=state.seed_id,
            slot_id=state.slot_id,
            blueprint_id=state.blueprint_id,
            seed_params=state.seed_params,
        )
    if target is Stage.FOSSILIZED:
        return SeedFossilized(
            epoch=epoch,
            seed_id=state.seed_id,
            slot_id=state.slot_id,
            blueprint_id=state.blueprint_id,
            contribution=state.contribution,
            epochs_total=state.epochs_total,
            seed_params=state.seed_params,
        )
    if target is Stage.PRUNED:
        return SeedPruned(
            epoch=epoch,
            seed_id=state.seed_id,
            slot_id=state.slot_id,
            blueprint_id=state.blueprint_id,
            from_stage=source.name,
            reason=state.prune_reason or "unspecified",
            initiator=state.prune_initiator or "system",
            auto=state.auto_pruned,
            contribution=state.contribution,
            epochs_total=state.epochs_total,
        )
    return None
