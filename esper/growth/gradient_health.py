"""Gradient health of the host and its seeds, measured with one device sync.

All per-tensor gradient norms of every group (host, each seed) are computed with batched
``torch._foreach_norm`` calls on the device, reduced there, stacked into one tensor, and
copied to the host once — never one ``.item()`` per parameter.

Health score per group: start at 1, subtract 0.5 x the fraction of gradient tensors whose
norm is below ``vanishing`` and 0.8 x the fraction above ``exploding`` or non-finite, clamp to
[0, 1]; a non-finite total norm scores 0. The seed/host ratio normalises for size:
``(seed_norm / host_norm) * sqrt(host_params / seed_params)``, 0 when the host norm is ~0,
capped at 10. A group whose parameters have no gradient at all is *unmeasured* (None), which
the lifecycle gates never treat as healthy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import attrs
import torch
from torch import nn

VANISHING = 1e-7
EXPLODING = 10.0
RATIO_CAP = 10.0


@attrs.frozen(kw_only=True)
class GroupHealth:
    """Gradient statistics of one parameter group."""

    norm: float
    health: float
    vanishing: bool
    exploding: bool
    num_params: int


@attrs.frozen(kw_only=True)
class GradientReport:
    host: GroupHealth | None
    seeds: dict[str, GroupHealth | None]

    def ratio(self, name: str) -> float | None:
        """Size-normalised seed/host gradient ratio (None when either side is unmeasured)."""
        seed = self.seeds.get(name)
        if seed is None or self.host is None or seed.num_params == 0:
            return None
        if self.host.norm < 1e-8 or not math.isfinite(self.host.norm):
            return 0.0
        value = (seed.norm / self.host.norm) * math.sqrt(self.host.num_params / seed.num_params)
        return min(RATIO_CAP, value) if math.isfinite(value) else RATIO_CAP


def _group_stats(
    params: list[nn.Parameter], vanishing: float, exploding: float
) -> torch.Tensor | None:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    by_device: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for g in grads:
        by_device.setdefault((g.device, g.dtype), []).append(g)
    device = grads[0].device
    # One batched norm kernel per (device, dtype) group; the global norm is summed in float64.
    norms = torch.cat(
        [
            torch.stack(torch._foreach_norm(group)).to(device=device, dtype=torch.float64)
            for group in by_device.values()
        ]
    )
    finite = torch.isfinite(norms)
    total = torch.sqrt((norms * norms).sum())
    n = float(norms.numel())
    frac_vanish = (finite & (norms < vanishing)).sum() / n
    frac_explode = ((~finite) | (norms > exploding)).sum() / n
    return torch.stack([total, frac_vanish.to(torch.float64), frac_explode.to(torch.float64)])


@attrs.frozen(kw_only=True)
class PendingGradients:
    """Gradient statistics still on the device: `resolve` turns them into a `GradientReport`.

    Launching the norm kernels and reading the results are separate steps so that an engine
    can launch them on a stream, keep launching other work, and read everything it needs at
    the end of the epoch in one transfer (`stats` is a flat float64 device tensor).
    """

    names: tuple[str, ...]
    seed_names: tuple[str, ...]
    sizes: dict[str, int]
    stats: torch.Tensor | None

    def resolve(self, values: Sequence[float] | None = None) -> GradientReport:
        """The report; ``values`` is ``stats.tolist()`` when the caller already transferred it."""
        if values is None:
            values = [] if self.stats is None else self.stats.cpu().tolist()
        measured = {name: tuple(values[3 * i : 3 * i + 3]) for i, name in enumerate(self.names)}

        def health(name: str) -> GroupHealth | None:
            if name not in measured:
                return None
            total, frac_vanish, frac_explode = measured[name]
            score = (
                0.0
                if not math.isfinite(total)
                else min(1.0, max(0.0, 1.0 - 0.5 * frac_vanish - 0.8 * frac_explode))
            )
            return GroupHealth(
                norm=total,
                health=score,
                vanishing=frac_vanish > 0.0,
                exploding=frac_explode > 0.0 or not math.isfinite(total),
                num_params=self.sizes[name],
            )

        return GradientReport(
            host=health(HOST_GROUP), seeds={name: health(name) for name in self.seed_names}
        )


HOST_GROUP = "\0host"


def launch(
    host_params: Iterable[nn.Parameter],
    seed_params: Mapping[str, Iterable[nn.Parameter]],
    *,
    vanishing: float = VANISHING,
    exploding: float = EXPLODING,
) -> PendingGradients:
    """Launch the gradient-health kernels of the host and each named seed (no device sync)."""
    groups: dict[str, list[nn.Parameter]] = {HOST_GROUP: list(host_params)}
    groups.update({name: list(params) for name, params in seed_params.items()})
    stats: dict[str, torch.Tensor] = {}
    for name, params in groups.items():
        result = _group_stats(params, vanishing, exploding)
        if result is not None:
            stats[name] = result
    flat = None
    if stats:
        device = next(iter(stats.values())).device
        flat = torch.cat([s.to(device) for s in stats.values()])
    return PendingGradients(
        names=tuple(stats),
        seed_names=tuple(seed_params),
        sizes={name: sum(p.numel() for p in params) for name, params in groups.items()},
        stats=flat,
    )


def measure(
    host_params: Iterable[nn.Parameter],
    seed_params: Mapping[str, Iterable[nn.Parameter]],
    *,
    vanishing: float = VANISHING,
    exploding: float = EXPLODING,
) -> GradientReport:
    """Gradient health of the host and of each named seed, with a single device-to-host copy."""
    return launch(host_params, seed_params, vanishing=vanishing, exploding=exploding).resolve()
