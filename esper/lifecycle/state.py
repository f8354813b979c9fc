"""`SeedState`: everything the lifecycle knows about one seed, and the operations that move it.

The record holds the seed's identity, its stage (plus the previous stage and how long the
seed spent there, which potential-based reward shaping needs to telescope), per-stage epoch
counters, accuracy baselines, the counterfactual contribution, gradient-health measurements,
the removal cooldown, and the seed's `AlphaController`. Every measurement starts as None,
meaning "not measured", and no gate treats None as good.

Operations (each validated against the transition table, each emitting telemetry through the
optional ``emit`` callback):

* `SeedState.germinate` creates a record and passes G0 into GERMINATED;
* `advance` evaluates the gate of a forward move and takes it if the gate passes;
* `transition` is the ungated primitive (e.g. HOLDING -> BLENDING for a partial retarget);
* `prune` removes the seed; `tick` then runs the cooldown, one call per epoch::

      prune() before tick t     PRUNED
      tick t                    -> EMBARGOED
      ticks t+1 .. t+N          counted; the N-th moves -> RESETTING     (N = embargo_ticks, 5)
      ticks t+N+1 .. t+N+R      counted; the R-th moves -> DORMANT       (R = reset_ticks, 1)

  so with the defaults a seed pruned before tick t is DORMANT (its slot free) after tick t+6,
  i.e. after 1 + N + R = 7 ticks.

* `record_accuracy` (once per epoch), `record_gradient_health`, `record_gradient_ratio` and
  `record_contribution` feed measurements in (`esper.lifecycle.measurements`).

`to_dict` / `from_dict` write and read the record's plain-JSON form
(`esper.lifecycle.persistence`); the events are built in `esper.lifecycle.events`.
The record is plain Python: the torch side (the slot) owns the seed module and reacts to
stage changes (gradient isolation, freeing the module on prune, copying alpha to a buffer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from esper.lifecycle.alpha import AlphaController
from esper.lifecycle.errors import IllegalTransition, LifecycleError
from esper.lifecycle.events import arrival_event, gate_evaluated_event, stage_changed_event
from esper.lifecycle.gates import GATE_FOR_TARGET, GATED_MOVES, GateResult, QualityGates
from esper.lifecycle.measurements import DEFAULT_GRADIENT_EMA_DECAY, SeedMeasurements
from esper.lifecycle.persistence import (
    FIELD_KINDS,
    STATE_SCHEMA_VERSION,
    encode_record,
    parse_record,
)
from esper.lifecycle.stages import (
    TRANSITIONS,
    Stage,
    check_transition,
    default_target,
    is_failure,
)
from esper.telemetry.events import Event

# Constants that moved to the modules above stay importable from here.
__all__ = [
    "AUTO_PRUNE_REASONS",
    "DEFAULT_EMBARGO_TICKS",
    "DEFAULT_GRADIENT_EMA_DECAY",
    "DEFAULT_RESET_TICKS",
    "STATE_SCHEMA_VERSION",
    "EmitFn",
    "SeedState",
]

DEFAULT_EMBARGO_TICKS = 5
DEFAULT_RESET_TICKS = 1
#: Prune reasons that mean "the system removed the seed", not the policy.
AUTO_PRUNE_REASONS: frozenset[str] = frozenset(
    {
        "governor_nan",
        "governor_lobotomy",
        "governor_divergence",
        "governor_rollback",
        "non_finite",
    }
)

EmitFn = Callable[[Event], object]


def _to_stage(value: object) -> Stage:
    return Stage.parse(value)


@attrs.define(kw_only=True)
class SeedState(SeedMeasurements):
    """Lifecycle record of one seed. Create it with `SeedState.germinate` (or `from_dict`)."""

    seed_id: str
    slot_id: str
    blueprint_id: str
    _stage: Stage = attrs.field(default=Stage.DORMANT, converter=_to_stage)
    _previous_stage: Stage = attrs.field(default=Stage.UNKNOWN, converter=_to_stage)
    #: Epochs spent in the previous stage when the seed left it.
    previous_epochs_in_stage: int = 0
    epochs_in_stage: int = 0
    #: Epochs recorded with `record_accuracy` since germination (the cooldown does not count).
    epochs_total: int = 0
    #: Epochs recorded per stage, cumulative (BLENDING can be entered more than once).
    epochs_by_stage: dict[Stage, int] = attrs.field(factory=dict)

    # Validation accuracy in percent (0-100), None until first recorded.
    accuracy_at_start: float | None = None
    accuracy_at_stage_start: float | None = None
    accuracy_at_blend_start: float | None = None
    current_accuracy: float | None = None
    best_accuracy: float | None = None

    #: Counterfactual contribution in percent points: accuracy with the seed minus without.
    contribution: float | None = None
    previous_contribution: float | None = None
    #: `epochs_total` when `contribution` was measured.
    contribution_measured_at: int | None = None

    gradient_norm: float | None = None
    #: Gradient health score in [0, 1]; None = never measured (never healthy).
    gradient_health: float | None = None
    previous_gradient_health: float | None = None
    has_vanishing: bool | None = None
    has_exploding: bool | None = None
    #: EMA of the parameter-normalised seed/host gradient-norm ratio (G2 strict).
    gradient_ratio: float | None = None

    seed_params: int | None = None

    embargo_ticks: int = DEFAULT_EMBARGO_TICKS
    reset_ticks: int = DEFAULT_RESET_TICKS
    prune_reason: str | None = None
    prune_initiator: str | None = None
    auto_pruned: bool = False

    alpha_controller: AlphaController = attrs.field(factory=AlphaController)
    emit: EmitFn | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for name in ("seed_id", "slot_id", "blueprint_id"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"SeedState.{name} must be a str")
        for name in ("previous_epochs_in_stage", "epochs_in_stage", "epochs_total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"SeedState.{name} must be an int >= 0, got {value!r}")
        for name in ("embargo_ticks", "reset_ticks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SeedState.{name} must be an int >= 1, got {value!r}")

    # -- read-only stage ------------------------------------------------------------------

    @property
    def stage(self) -> Stage:
        """Current stage; change it only through the operations below."""
        return self._stage

    @property
    def previous_stage(self) -> Stage:
        return self._previous_stage

    @property
    def alpha(self) -> float:
        """Current blend amplitude (the controller's alpha)."""
        return self.alpha_controller.alpha

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def germinate(
        cls,
        *,
        seed_id: str,
        slot_id: str,
        blueprint_id: str,
        gates: QualityGates | None = None,
        emit: EmitFn | None = None,
        epoch: int | None = None,
        seed_params: int | None = None,
        embargo_ticks: int = DEFAULT_EMBARGO_TICKS,
        reset_ticks: int = DEFAULT_RESET_TICKS,
    ) -> SeedState:
        """Create the record of a new seed and pass G0 into GERMINATED.

        Emits ``seed.gate_evaluated``, ``seed.stage_changed`` and ``seed.germinated``.
        Raises `LifecycleError` if G0 fails (empty seed or blueprint id).
        """
        state = cls(
            seed_id=seed_id,
            slot_id=slot_id,
            blueprint_id=blueprint_id,
            seed_params=seed_params,
            embargo_ticks=embargo_ticks,
            reset_ticks=reset_ticks,
            emit=emit,
        )
        result = state.advance(
            gates if gates is not None else QualityGates(), Stage.GERMINATED, epoch=epoch
        )
        if not result.passed:
            raise LifecycleError(
                f"cannot germinate seed {seed_id!r} in slot {slot_id!r}: {result.message}"
            )
        return state

    # -- stage changes --------------------------------------------------------------------

    def transition(
        self, to: Stage | int | str, *, epoch: int | None = None, reason: str | None = None
    ) -> None:
        """Move to ``to`` without a gate. Raises `IllegalTransition` if the table forbids it.

        Resets the stage baseline (accuracy at stage start, epochs in stage) and remembers the
        previous stage and its epoch count. Entering PRUNED zeroes alpha (use `prune`, which
        also records who pruned and why); entering HOLDING holds alpha at exactly 1.
        """
        target = Stage.parse(to)
        check_transition(self._stage, target, seed_id=self.seed_id)
        if target is Stage.PRUNED:
            self.prune(reason or "unspecified", initiator="system", epoch=epoch)
            return
        self._move(target, epoch)

    def advance(
        self,
        gates: QualityGates,
        target: Stage | int | str | None = None,
        *,
        epoch: int | None = None,
    ) -> GateResult:
        """Evaluate the gate of the forward move to ``target`` and take the move if it passes.

        ``target`` defaults to the stage's default next stage. Only the gated forward moves
        (into GERMINATED, TRAINING, BLENDING, HOLDING, FOSSILIZED) can be advanced to: pruning
        goes through `prune`, the cooldown through `tick`, HOLDING -> BLENDING through
        `transition`. Emits ``seed.gate_evaluated`` whatever the outcome.
        """
        chosen = self._advance_target(target)
        result = gates.evaluate(GATE_FOR_TARGET[chosen], self)
        self._emit(
            gate_evaluated_event(self, chosen, result, strict=gates.config.strict, epoch=epoch)
        )
        if result.passed:
            self._move(chosen, epoch)
        return result

    def _advance_target(self, target: Stage | int | str | None) -> Stage:
        """The stage `advance` moves to; raises unless that is a gated forward move now."""
        chosen = default_target(self._stage) if target is None else Stage.parse(target)
        if chosen is None:
            raise IllegalTransition(
                self._stage,
                self._stage,
                seed_id=self.seed_id,
                hint=f"{self._stage.name} is terminal; there is nothing to advance to",
            )
        check_transition(self._stage, chosen, seed_id=self.seed_id)
        if (self._stage, chosen) not in GATED_MOVES:
            if is_failure(chosen):
                how = (
                    "use prune()" if chosen is Stage.PRUNED else "the cooldown advances with tick()"
                )
            else:
                how = "use transition() (it is not a gated forward move)"
            raise LifecycleError(
                f"seed {self.seed_id!r}: cannot advance {self._stage.name} -> {chosen.name}; {how}"
            )
        if self._stage is Stage.DORMANT and self._previous_stage is Stage.RESETTING:
            raise LifecycleError(
                f"seed {self.seed_id!r} has finished its cooldown; a new seed needs a new SeedState"
            )
        return chosen

    def prune(self, reason: str, *, initiator: str = "policy", epoch: int | None = None) -> None:
        """Remove the seed: move to PRUNED, zero alpha and start the cooldown.

        Refused (`IllegalTransition`) for FOSSILIZED (permanent), DORMANT and the cooldown
        stages. Reasons in `AUTO_PRUNE_REASONS` mark the removal as automatic.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("a prune needs a non-empty reason")
        if Stage.PRUNED not in TRANSITIONS[self._stage]:
            hint = "a fossilized seed is permanent" if self._stage is Stage.FOSSILIZED else ""
            raise IllegalTransition(
                self._stage,
                Stage.PRUNED,
                seed_id=self.seed_id,
                legal=TRANSITIONS[self._stage],
                hint=hint,
            )
        self.prune_reason = reason
        self.prune_initiator = initiator
        self.auto_pruned = reason in AUTO_PRUNE_REASONS
        self._move(Stage.PRUNED, epoch)

    def tick(self, *, epoch: int | None = None) -> Stage | None:
        """One epoch of the removal cooldown; returns the stage entered, if any.

        PRUNED moves to EMBARGOED at once; EMBARGOED moves to RESETTING on its
        ``embargo_ticks``-th tick; RESETTING moves to DORMANT on its ``reset_ticks``-th tick.
        In every other stage this does nothing (the slot steps alpha and decides auto-advance).
        """
        if self._stage is Stage.PRUNED:
            self._move(Stage.EMBARGOED, epoch)
            return Stage.EMBARGOED
        if self._stage is Stage.EMBARGOED:
            return self._count_cooldown(self.embargo_ticks, Stage.RESETTING, epoch)
        if self._stage is Stage.RESETTING:
            return self._count_cooldown(self.reset_ticks, Stage.DORMANT, epoch)
        return None

    def _count_cooldown(self, ticks: int, then: Stage, epoch: int | None) -> Stage | None:
        self.epochs_in_stage += 1
        self.epochs_by_stage[self._stage] = self.epochs_by_stage.get(self._stage, 0) + 1
        if self.epochs_in_stage >= ticks:
            self._move(then, epoch)
            return then
        return None

    def _move(self, target: Stage, epoch: int | None) -> None:
        source = self._stage
        spent = self.epochs_in_stage
        self._previous_stage = source
        self.previous_epochs_in_stage = spent
        self._stage = target
        self.epochs_in_stage = 0
        self.accuracy_at_stage_start = self.current_accuracy
        if source is Stage.TRAINING and target is Stage.BLENDING:
            self.accuracy_at_blend_start = self.current_accuracy
        if target is Stage.PRUNED:
            self.alpha_controller.reset(0.0)
        elif target is Stage.HOLDING:
            # G3 admits alpha within a tolerance of 1; HOLDING means exactly 1.
            self.alpha_controller.reset(1.0)
        self._emit(stage_changed_event(self, source, target, spent, epoch=epoch))
        arrival = arrival_event(self, source, target, epoch=epoch)
        if arrival is not None:
            self._emit(arrival)

    def _emit(self, event: Event) -> None:
        if self.emit is not None:
            self.emit(event)

    # -- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form with a ``schema`` version; `from_dict` restores an equal record."""
        return encode_record({key: getattr(self, _ATTR[key]) for key in FIELD_KINDS})

    @classmethod
    def from_dict(cls, data: object, *, emit: EmitFn | None = None) -> SeedState:
        """Rebuild a record from `to_dict` output.

        Raises `LifecycleError` naming the problem for another schema version, missing or
        unknown keys, a value of the wrong type, or a retired stage value.
        """
        kwargs = parse_record(data)
        try:
            return cls(**kwargs, emit=emit)
        except ValueError as exc:
            raise LifecycleError(f"seed state record is invalid: {exc}") from exc


# The persisted attribute behind each key of `FIELD_KINDS` (its init name).
_ATTR = {f.alias: f.name for f in attrs.fields(SeedState) if f.name != "emit"}
if set(_ATTR) != set(FIELD_KINDS):  # keeps the table in step with the class
    raise RuntimeError(
        f"SeedState serialisation table out of date: {set(_ATTR) ^ set(FIELD_KINDS)}"
    )
