"""Counterfactual evaluation: the model's outputs under several alpha configurations at once.

`FusedEvaluation` is a mixin of `esper.growth.model.MorphogeneticModel`. Its `fused_forward`
runs K configurations (each slot's alpha set or left as it is) through the host in one
batched pass, with the seeds' `FusedPlan` deciding where the configurations fan out; the
engine measures each seed's contribution, and the Shapley attribution, from its outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from esper.growth.host import SlottedHost
from esper.growth.seed_module import FusedPlan
from esper.growth.slots import SlotRecord
from esper.lifecycle import LifecycleError


class FusedEvaluation(nn.Module):
    """Evaluates several alpha configurations of the model in one pass."""

    # Set by the model's constructor.
    host: SlottedHost
    records: dict[str, SlotRecord]

    def fused_forward(
        self, x: torch.Tensor, configs: Sequence[Mapping[str, float]]
    ) -> torch.Tensor:
        """Outputs for K alpha configurations in one pass: shape ``[K, B, ...]``.

        Each config maps slot ids to the alpha to evaluate with (slots not named keep their
        current alpha). A seed in TRAINING is never blended: it is the identity here, whatever
        a config says about its slot. The pass runs in eval mode
        without gradients, so BatchNorm statistics are untouched and every sample sees
        exactly what a sequential evaluation with that config would. The host computes the
        part before the first slot whose alpha differs between configs once, then fans out
        only where configurations start to differ (see `FusedPlan`).
        """
        if not configs:
            raise ValueError("fused_forward needs at least one configuration")
        for config in configs:
            unknown = set(config) - set(self.records)
            if unknown:
                raise LifecycleError(f"alpha config names unknown slot(s) {sorted(unknown)}")
        k, batch = len(configs), x.shape[0]
        modules = {sid: r.module for sid, r in self.records.items() if r.module is not None}
        plan = FusedPlan(
            {sid: [float(c[sid]) if sid in c else None for c in configs] for sid in modules},
            k,
            batch,
        )
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                for sid, module in modules.items():
                    module.slot_id = sid
                    module.fused = plan
                out: torch.Tensor = self.host(x)
        finally:
            for module in modules.values():
                module.fused = None
            self.train(was_training)
        return plan.gather(out, k)
