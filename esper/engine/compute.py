"""What an environment's training has cost in FLOPs, epoch by epoch.

Each epoch is charged before its evaluation: the per-sample FLOPs of a training step (forward
and backward) times the samples the pass trained, and the per-sample FLOPs of the fused
evaluation of every alpha configuration times the validation samples. The per-sample figures
come from `esper.growth.flops` (torch's FLOP counter on meta stand-ins, once per model
structure), so charging reads nothing from the device and changes no number of the run. An
epoch the governor rolls back is charged too: its compute was spent.

With a training budget (``run.budget_flops``) the tally also caps the batches of the next
epoch, so that an arm stops at the first batch whose step reaches the budget: arms compared at
equal compute differ by less than one batch's step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from esper.engine.epoch import EpochLoop
from esper.growth.flops import FlopMeter, growth_structure


@attrs.define
class ComputeTally:
    """Training, evaluation and controller FLOPs since the run began (checkpointed with the
    environment)."""

    train: int = 0
    evaluate: int = 0
    #: The controller's own decisions (`esper.contracts.policy.Policy.decision_flops`).
    control: int = 0
    #: Training FLOPs after which the environment stops (None: no budget).
    budget: int | None = None
    #: The configured cap on batches per epoch, which a budget can only lower.
    batches_per_epoch: int | None = None
    meter: FlopMeter = attrs.field(factory=FlopMeter, repr=False)

    @property
    def spent(self) -> bool:
        """The training budget is used up."""
        return self.budget is not None and self.train >= self.budget

    def cap_batches(self, loop: EpochLoop) -> None:
        """Cap the next epoch's batches at the budget's remainder, rounded up to a batch."""
        cap = self.batches_per_epoch
        if self.budget is not None:
            model, data = loop.model, loop.data
            step = self.meter.train_step(model, data.train_x[:1], growth_structure(model.records))
            per_batch = max(step.total, 1) * loop.task.info.batch_size
            left = max(math.ceil((self.budget - self.train) / per_batch), 1)
            cap = left if cap is None else min(cap, left)
        loop.batches_per_epoch = cap

    def charge_epoch(self, loop: EpochLoop, configs: Sequence[Mapping[str, float]]) -> None:
        """Charge the pass ``loop`` just trained and the evaluation of ``configs`` it is about
        to run."""
        model, data = loop.model, loop.data
        structure = growth_structure(model.records)
        step = self.meter.train_step(model, data.train_x[:1], structure)
        self.train += step.total * loop.trained_samples
        frozen = [dict(c) for c in configs]
        per_sample = self.meter.evaluate(
            model,
            data.val_x[:1],
            (structure, tuple(tuple(sorted(c.items())) for c in frozen)),
            # `functional_call` swaps the tensors of this very module object, so the closure
            # runs on the meta stand-ins too.
            lambda _, x: model.fused_forward(x, frozen),
        )
        self.evaluate += per_sample * data.val_x.shape[0]

    def summary(self) -> dict[str, int]:
        total = self.train + self.evaluate + self.control
        return {
            "train": self.train,
            "evaluate": self.evaluate,
            "control": self.control,
            "total": total,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"train": self.train, "evaluate": self.evaluate, "control": self.control}

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        # A checkpoint written before esper counted FLOPs has none: counting starts at zero.
        state = state or {}
        self.train = int(state.get("train", 0))
        self.evaluate = int(state.get("evaluate", 0))
        self.control = int(state.get("control", 0))
