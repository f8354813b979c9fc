"""What an environment's training has cost in FLOPs, epoch by epoch.

Each epoch is charged before its evaluation: the per-sample FLOPs of a training step (forward
and backward) times the samples the pass trained, and the per-sample FLOPs of the fused
evaluation of every alpha configuration times the validation samples. The per-sample figures
come from `esper.growth.flops` (torch's FLOP counter on meta stand-ins, once per model
structure), so charging reads nothing from the device and changes no number of the run. An
epoch the governor rolls back is charged too: its compute was spent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from esper.engine.epoch import EpochLoop
from esper.growth.flops import FlopMeter, growth_structure


@attrs.define
class ComputeTally:
    """Training and evaluation FLOPs since the run began (checkpointed with the environment)."""

    train: int = 0
    evaluate: int = 0
    meter: FlopMeter = attrs.field(factory=FlopMeter, repr=False)

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
        return {"train": self.train, "evaluate": self.evaluate, "total": self.train + self.evaluate}

    def state_dict(self) -> dict[str, Any]:
        return {"train": self.train, "evaluate": self.evaluate}

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        # A checkpoint written before esper counted FLOPs has none: counting starts at zero.
        state = state or {}
        self.train = int(state.get("train", 0))
        self.evaluate = int(state.get("evaluate", 0))
