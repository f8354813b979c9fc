"""The model's parameters: which belong to the host and which to each seed, and their health.

`ParameterAccounting` is a mixin of `esper.growth.model.MorphogeneticModel`: it reads the host
and the slot records the model keeps and answers which seed modules exist, which parameters
are the host's own (tied weights once), how many each part trains (`ParamCounts`), how
healthy the gradients of host and seeds are (`esper.growth.gradient_health`, recorded into
the seeds' lifecycle records for the gates), and how many batches each seed's output was
non-finite in. The measurements on the device are launched without a sync and read later
with the epoch's other figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import attrs
import torch
from torch import nn

from esper.growth.gradient_health import GradientReport, PendingGradients, launch
from esper.growth.host import SlottedHost
from esper.growth.seed_module import SeedModule
from esper.growth.slots import SlotRecord
from esper.lifecycle import Stage


@attrs.frozen(kw_only=True)
class ParamCounts:
    """Trainable parameters; tied weights count once."""

    host: int
    active_seeds: int
    fossilized: int

    @property
    def total(self) -> int:
        return self.host + self.active_seeds + self.fossilized

    @property
    def growth_ratio(self) -> float:
        return self.total / self.host if self.host else math.inf


class ParameterAccounting(nn.Module):
    """Parameter and gradient accounting over the host and the seeds in its slots."""

    # Set by the model's constructor.
    host: SlottedHost
    records: dict[str, SlotRecord]

    def seed_modules(self) -> Iterator[tuple[str, SeedModule]]:
        for sid, record in self.records.items():
            if record.module is not None:
                yield sid, record.module

    def host_parameters(self) -> list[nn.Parameter]:
        """The host's own parameters (no seed parameters), each once even if tied."""
        seed_ids = {id(p) for _, m in self.seed_modules() for p in m.parameters()}
        seen: set[int] = set()
        params = []
        for p in self.host.parameters():  # parameters() already de-duplicates tied weights
            if id(p) not in seed_ids and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        return params

    def parameter_counts(self) -> ParamCounts:
        host = sum(p.numel() for p in self.host_parameters() if p.requires_grad)
        active = fossil = 0
        for sid, module in self.seed_modules():
            state = self.records[sid].state
            n = sum(p.numel() for p in module.parameters())
            if state is not None and state.stage is Stage.FOSSILIZED:
                fossil += n
            else:
                active += n
        return ParamCounts(host=host, active_seeds=active, fossilized=fossil)

    def gradient_report(self, *, record: bool = True) -> GradientReport:
        """Gradient health of host and seeds (one device sync); optionally recorded into the seeds."""
        report = self.launch_gradient_report().resolve()
        if record:
            self.record_gradient_report(report)
        return report

    def launch_gradient_report(self) -> PendingGradients:
        """Launch the gradient-health kernels; read them later with ``.resolve()``."""
        return launch(
            self.host_parameters(), {sid: list(m.parameters()) for sid, m in self.seed_modules()}
        )

    def record_gradient_report(self, report: GradientReport) -> None:
        """Record each seed's gradient health and seed/host ratio into its lifecycle state."""
        for sid, health in report.seeds.items():
            record = self.records.get(sid)
            state = record.state if record is not None else None
            if state is None or health is None:
                continue
            state.record_gradient_health(
                health.health,
                has_vanishing=health.vanishing,
                has_exploding=health.exploding,
                norm=health.norm if math.isfinite(health.norm) else None,
            )
            ratio = report.ratio(sid)
            if ratio is not None:
                state.record_gradient_ratio(ratio)

    def launch_nonfinite(self) -> tuple[tuple[str, ...], torch.Tensor | None]:
        """Each seed's count of training batches with a non-finite output since the last call.

        The counts stay on the device (read them with the epoch's other figures); each seed's
        count starts again from zero.
        """
        modules = list(self.seed_modules())
        if not modules:
            return (), None
        counts = torch.stack([m.take_nonfinite() for _, m in modules])
        return tuple(sid for sid, _ in modules), counts
