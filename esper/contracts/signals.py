"""Training signals: what a controller observes about one host-training run each epoch.

`SignalTracker` follows the run (plateau counter, stabilisation latch, histories) and builds
a `Signals` record per epoch with one `SlotView` per enabled slot.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import attrs

from esper.contracts.actions import Op
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import Stage
from esper.lifecycle.alpha import AlphaAlgorithm, AlphaMode

#: Accuracy gain (percent points) below which an epoch counts toward a plateau.
PLATEAU_THRESHOLD_PP = 0.5
#: Relative loss improvement band of a "stable" epoch, and how many in a row latch stabilisation.
STABLE_BAND = (-0.05, 0.03)
STABLE_EPOCHS = 3


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


def slot_views(model: MorphogeneticModel) -> tuple[SlotView, ...]:
    views = []
    for sid, record in model.records.items():
        state = record.state
        if state is None:
            views.append(SlotView(slot_id=sid, stage=Stage.DORMANT))
            continue
        controller = state.alpha_controller
        views.append(
            SlotView(
                slot_id=sid,
                stage=state.stage,
                seed_id=state.seed_id,
                blueprint=state.blueprint_id,
                alpha=state.alpha,
                alpha_target=controller.target,
                alpha_holding=controller.mode is AlphaMode.HOLD,
                epochs_in_stage=state.epochs_in_stage,
                epochs_total=state.epochs_total,
                improvement_since_stage_start=state.improvement_since_stage_start,
                total_improvement=state.total_improvement,
                contribution=state.contribution,
                gradient_health=state.gradient_health,
                contribution_velocity=state.contribution_velocity,
                contribution_age=state.contribution_age,
                previous_gradient_health=state.previous_gradient_health,
                gradient_norm=state.gradient_norm,
                has_vanishing=state.has_vanishing,
                has_exploding=state.has_exploding,
                alpha_mode=controller.mode,
                alpha_steps_total=controller.steps_total,
                alpha_steps_done=controller.steps_done,
                alpha_algorithm=record.algorithm,
                tempo=record.tempo,
            )
        )
    return tuple(views)


class SignalTracker:
    def __init__(self, *, history: int = 10, stabilization_epochs: int = STABLE_EPOCHS) -> None:
        self.losses: deque[float] = deque(maxlen=history)
        self.accuracies: deque[float] = deque(maxlen=history)
        self.plateau_epochs = 0
        self.stable_streak = 0
        self.stabilization_epochs = stabilization_epochs
        self.host_stabilized = stabilization_epochs == 0
        self.best_val_accuracy = -math.inf
        self.last_action_op: Op | None = None
        self.last_action_ok: bool | None = None

    def record_action(self, op: Op, ok: bool) -> None:
        """Remember the action the engine just executed; the next `Signals` report it."""
        self.last_action_op = Op(op)
        self.last_action_ok = bool(ok)

    def update(
        self,
        *,
        epoch: int,
        max_epochs: int,
        train_loss: float,
        train_accuracy: float,
        val_loss: float,
        val_accuracy: float,
        model: MorphogeneticModel,
    ) -> Signals:
        prev_loss = self.losses[-1] if self.losses else None
        prev_acc = self.accuracies[-1] if self.accuracies else None
        loss_delta = 0.0 if prev_loss is None else prev_loss - val_loss
        acc_delta = 0.0 if prev_acc is None else val_accuracy - prev_acc
        if prev_acc is not None:
            self.plateau_epochs = self.plateau_epochs + 1 if acc_delta < PLATEAU_THRESHOLD_PP else 0
        if (
            not self.host_stabilized
            and prev_loss is not None
            and prev_loss > 0
            and math.isfinite(val_loss)
        ):
            relative = (prev_loss - val_loss) / prev_loss
            self.stable_streak = (
                self.stable_streak + 1 if STABLE_BAND[0] < relative < STABLE_BAND[1] else 0
            )
            if self.stable_streak >= self.stabilization_epochs:
                self.host_stabilized = True
        self.losses.append(val_loss)
        self.accuracies.append(val_accuracy)
        self.best_val_accuracy = max(self.best_val_accuracy, val_accuracy)
        return Signals(
            epoch=epoch,
            max_epochs=max_epochs,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            loss_delta=loss_delta,
            accuracy_delta=acc_delta,
            plateau_epochs=self.plateau_epochs,
            host_stabilized=self.host_stabilized,
            best_val_accuracy=self.best_val_accuracy,
            loss_history=tuple(list(self.losses)[-5:]),
            accuracy_history=tuple(list(self.accuracies)[-5:]),
            slots=slot_views(model),
            last_action_op=self.last_action_op,
            last_action_ok=self.last_action_ok,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "losses": list(self.losses),
            "accuracies": list(self.accuracies),
            "plateau_epochs": self.plateau_epochs,
            "stable_streak": self.stable_streak,
            "host_stabilized": self.host_stabilized,
            "best_val_accuracy": self.best_val_accuracy,
            "last_action_op": None if self.last_action_op is None else int(self.last_action_op),
            "last_action_ok": self.last_action_ok,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.losses.clear()
        self.losses.extend(float(v) for v in state["losses"])
        self.accuracies.clear()
        self.accuracies.extend(float(v) for v in state["accuracies"])
        self.plateau_epochs = int(state["plateau_epochs"])
        self.stable_streak = int(state["stable_streak"])
        self.host_stabilized = bool(state["host_stabilized"])
        self.best_val_accuracy = float(state["best_val_accuracy"])
        # Checkpoints written before these keys existed resume with "no last action".
        op = state.get("last_action_op")
        self.last_action_op = None if op is None else Op(int(op))
        ok = state.get("last_action_ok")
        self.last_action_ok = None if ok is None else bool(ok)
