"""`SignalTracker`: follows one host-training run and builds its `Signals` every epoch.

It keeps the histories, the plateau counter and the stabilisation latch; the slots' views come
from the model (`esper.growth.model.MorphogeneticModel.slot_views`).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from esper.contracts.actions import Op
from esper.contracts.signals import Signals, SlotView

#: Accuracy gain (percent points) below which an epoch counts toward a plateau.
PLATEAU_THRESHOLD_PP = 0.5
#: Relative loss improvement band of a "stable" epoch, and how many in a row latch stabilisation.
STABLE_BAND = (-0.05, 0.03)
STABLE_EPOCHS = 3


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
        slots: tuple[SlotView, ...],
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
            slots=slots,
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
