"""Training signals: what a controller observes about one host-training run each epoch.

`Signals` is one epoch's record with one `SlotView` per enabled slot: plain data (the model
builds the views, `esper.growth.model.MorphogeneticModel.slot_views`; the engine's
`esper.engine.tracker.SignalTracker` adds the run's history). Policies and rewards read only
these records.
"""

from __future__ import annotations

import attrs

from esper.contracts.actions import Op
from esper.lifecycle import Stage
from esper.lifecycle.alpha import AlphaAlgorithm, AlphaMode


@attrs.frozen(kw_only=True)
class SlotView:
    slot_id: str
    stage: Stage
    seed_id: str | None = None
    blueprint: str | None = None
    alpha: float = 0.0
    alpha_target: float = 0.0
    alpha_holding: bool = True
    epochs_in_stage: int = 0
    epochs_total: int = 0
    improvement_since_stage_start: float | None = None
    total_improvement: float | None = None
    contribution: float | None = None
    gradient_health: float | None = None
    # What learned controllers observe beyond the heuristic's needs (None = not measured).
    #: Change between the last two contribution measurements (percent points).
    contribution_velocity: float | None = None
    #: Epochs recorded since the last contribution measurement.
    contribution_age: int | None = None
    previous_gradient_health: float | None = None
    gradient_norm: float | None = None
    has_vanishing: bool | None = None
    has_exploding: bool | None = None
    alpha_mode: AlphaMode = AlphaMode.HOLD
    alpha_steps_total: int = 0
    alpha_steps_done: int = 0
    alpha_algorithm: AlphaAlgorithm = AlphaAlgorithm.ADD
    #: Blend ramp length (epochs) chosen at germination.
    tempo: int = 0

    @property
    def free(self) -> bool:
        return self.stage is Stage.DORMANT

    @property
    def live(self) -> bool:
        """A seed that can still be acted on (not fossilized, not cooling down)."""
        return self.stage in (Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING)


@attrs.frozen(kw_only=True)
class Signals:
    epoch: int
    max_epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    #: prev - current validation loss: positive is an improvement.
    loss_delta: float
    accuracy_delta: float
    plateau_epochs: int
    host_stabilized: bool
    best_val_accuracy: float
    loss_history: tuple[float, ...]
    accuracy_history: tuple[float, ...]
    slots: tuple[SlotView, ...]
    #: The previous epoch's action and whether the engine executed it (None before the first).
    last_action_op: Op | None = None
    last_action_ok: bool | None = None

    def slot(self, slot_id: str) -> SlotView:
        for view in self.slots:
            if view.slot_id == slot_id:
                return view
        raise KeyError(slot_id)
