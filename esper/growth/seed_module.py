"""The module that sits in a host's slot while a seed lives there.

`SeedModule` wraps the blueprint module and decides how its output meets the host's
features, by stage:

* GERMINATED (and every non-active stage): the seed is not executed; the output is the host's.
* TRAINING: the straight-through incubator. The output *is* the host features, bit for bit,
  whatever the seed returns (inf and NaN included), yet the seed receives the loss gradient as
  if its output were used (`_Incubate`). With isolation the seed's input is detached too, so
  the host's gradients are bit-identical to a model without the seed. Outside training mode
  (evaluation) a TRAINING seed is not run at all.
* BLENDING / HOLDING / FOSSILIZED: blend with amplitude alpha by the chosen algorithm:
  ADD ``lerp(h, s, alpha)``; MULTIPLY, a bounded valve ``h * (1 + alpha * tanh(s - x))``
  that is the identity at alpha 0; GATE, ``lerp(h, s, alpha * g(x))`` with a learned
  per-sample gate.

Alpha lives in a 0-dim buffer so that changing it never recompiles a compiled host. The
forward branches only on plain bools and ints derived from the stage and algorithm (set by
their property setters), never on the enums themselves: torch 2.13's dynamo drops the guard
on an enum attribute tested with ``in`` / ``is`` after the first recompile, so a compiled host
kept running a TRAINING graph after its seed began to blend (``tests/core/engine/test_compile.py``).
A compiled host recompiles once per distinct stage/algorithm, a small constant over a
lifecycle. The seed's output is cast to the host's
dtype before it meets the host features (under autocast they can differ).

Every training batch counts, on the device, whether the seed's output (in the host's dtype)
held an inf or NaN; the engine reads the count once per epoch and prunes such a seed
(`esper.growth.model.MorphogeneticModel.prune_non_finite`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from esper.lifecycle import Stage, is_active
from esper.lifecycle.alpha import AlphaAlgorithm


class GatedBlend(nn.Module):
    """Per-sample gate in [0, 1]: pool features, a small MLP, sigmoid; broadcastable to the input.

    Features of any layout: the mean over every dimension except the batch (0) and
    ``channel_dim`` gives ``[B, C]`` (``[B, C]`` features are used as they are).
    """

    def __init__(self, channels: int, channel_dim: int = 1) -> None:
        super().__init__()
        hidden = max(8, channels // 4)
        self.channel_dim = channel_dim
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = x.dim()
        channel = self.channel_dim % rank
        others = [d for d in range(1, rank) if d != channel]
        # (mean over an empty dim list would reduce everything)
        pooled = x.mean(dim=others) if others else x
        hidden = torch.relu(self.fc1(pooled.to(self.fc1.weight.dtype)))
        return torch.sigmoid(self.fc2(hidden)).reshape((-1,) + (1,) * (rank - 1))


class _Incubate(torch.autograd.Function):
    """The TRAINING output: exactly the host's features, with a straight-through gradient.

    Forward returns a copy of ``h`` and never reads ``s``, so an inf or NaN seed output cannot
    reach the host (``h + (s - s.detach())`` is NaN when ``s`` is inf). Backward hands the
    incoming gradient unchanged to ``h`` (as if the slot were empty) and, cast to the seed
    output's dtype, to ``s`` (as if the seed's output had been used).
    """

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        ctx.seed_dtype = s.dtype
        # A copy, not a view: a host may modify the slot's output in place.
        return h.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return grad, grad.to(ctx.seed_dtype)


class FusedPlan:
    """Shared state of one fused counterfactual evaluation of K alpha configurations.

    The batch dimension holds *groups* of B samples; each group stands for the configurations
    that have behaved identically so far. It starts as one group (the plain batch). At each
    slot, a group whose configurations disagree about that slot's alpha is split, and only
    then are its features repeated. So the host computes each distinct prefix once: with the
    usual "everything on, and each seed removed in turn" set, the part before the first seed
    runs once, the part after the k-th seed k+1 times, instead of K times everywhere.
    """

    def __init__(self, alphas: dict[str, list[float | None]], k: int, batch: int) -> None:
        # alphas[slot][c]: configuration c's alpha at that slot (None = the slot's current alpha).
        self.alphas = alphas
        self.batch = batch
        self.groups: list[list[int]] = [list(range(k))]

    def apply(
        self, slot_id: str, h: torch.Tensor, current: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[bool]]:
        """Split groups as this slot requires.

        Returns the features, per-sample alphas, and for each group whether its alpha is
        exactly 0 (then the slot is the identity for it).
        """
        wanted = self.alphas.get(slot_id)
        tail = (1,) * (h.dim() - 1)
        if wanted is None:
            return h, current.reshape((1, *tail)), [False] * len(self.groups)
        new_groups: list[list[int]] = []
        sources: list[int] = []
        values: list[float | None] = []
        for index, group in enumerate(self.groups):
            by_value: dict[float | None, list[int]] = {}
            for config in group:
                by_value.setdefault(wanted[config], []).append(config)
            for value, members in by_value.items():
                new_groups.append(members)
                sources.append(index)
                values.append(value)
        b = self.batch
        if len(new_groups) != len(self.groups):
            h = torch.cat([h[i * b : (i + 1) * b] for i in sources])
        self.groups = new_groups
        scalars = torch.stack(
            [
                current
                if v is None
                else torch.full((), v, dtype=current.dtype, device=current.device)
                for v in values
            ]
        )
        return h, scalars.repeat_interleave(b).reshape((-1, *tail)), [v == 0.0 for v in values]

    def gather(self, out: torch.Tensor, k: int) -> torch.Tensor:
        """``[groups * B, ...]`` host output -> ``[K, B, ...]`` in configuration order."""
        b = self.batch
        where = {config: g for g, members in enumerate(self.groups) for config in members}
        return torch.stack([out[where[c] * b : (where[c] + 1) * b] for c in range(k)])


_MULTIPLY, _GATE = 1, 2
_BLEND_KINDS = {
    AlphaAlgorithm.ADD: 0,
    AlphaAlgorithm.MULTIPLY: _MULTIPLY,
    AlphaAlgorithm.GATE: _GATE,
}


class SeedModule(nn.Module):
    """A blueprint module plus the blending that joins it to the host."""

    def __init__(
        self,
        seed: nn.Module,
        channels: int,
        algorithm: AlphaAlgorithm = AlphaAlgorithm.ADD,
        *,
        channel_dim: int = 1,
    ) -> None:
        super().__init__()
        self.seed: nn.Module = seed
        self.channels = channels
        self.channel_dim = channel_dim
        # What forward branches on (see the module docstring): kept in step by the setters.
        self._active = False
        self._straight_through = False
        self._blend_kind = 0
        self.stage = Stage.GERMINATED
        self.isolate = True
        self.algorithm = AlphaAlgorithm(algorithm)
        self.gate: GatedBlend | None = (
            GatedBlend(channels, channel_dim) if self.algorithm is AlphaAlgorithm.GATE else None
        )
        self.alpha: torch.Tensor
        self.register_buffer("alpha", torch.zeros(()), persistent=True)
        # Training batches whose seed output had an inf or NaN (in the host's dtype), counted
        # on the device and read once per epoch (`take_nonfinite`). Not part of the state.
        self.nonfinite: torch.Tensor
        self.register_buffer("nonfinite", torch.zeros((), dtype=torch.int32), persistent=False)
        # Fused counterfactual pass: see `FusedPlan`; None outside it.
        self.fused: FusedPlan | None = None
        self.slot_id = ""

    @property
    def stage(self) -> Stage:
        return self._stage

    @stage.setter
    def stage(self, value: Stage) -> None:
        self._stage = value
        self._active = is_active(value)
        self._straight_through = value is Stage.TRAINING

    @property
    def algorithm(self) -> AlphaAlgorithm:
        return self._algorithm

    @algorithm.setter
    def algorithm(self, value: AlphaAlgorithm) -> None:
        self._algorithm = value
        self._blend_kind = _BLEND_KINDS[value]

    def set_algorithm(self, algorithm: AlphaAlgorithm) -> None:
        algorithm = AlphaAlgorithm(algorithm)
        if algorithm is AlphaAlgorithm.GATE and self.gate is None:
            ref = next(self.seed.parameters(), self.alpha)
            self.gate = GatedBlend(self.channels, self.channel_dim).to(device=ref.device)
        elif algorithm is not AlphaAlgorithm.GATE:
            self.gate = None
        self.algorithm = algorithm

    def set_alpha(self, value: float) -> None:
        # In-place fill keeps the buffer's identity (and a compiled graph's guard) intact.
        with torch.no_grad():
            self.alpha.fill_(float(value))

    def take_nonfinite(self) -> torch.Tensor:
        """This epoch's count of training batches with a non-finite seed output (on the
        device, no sync), and a fresh count for the next epoch."""
        count = self.nonfinite.clone()
        self.nonfinite.zero_()
        return count

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self._active:
            return h
        if self._straight_through:
            # The incubator's output is h whatever the seed computes: outside training
            # (evaluation, the fused counterfactual pass) the seed need not run at all.
            return self._incubate(h) if self.training else h
        if self.fused is not None:
            return self._fused_forward(h, self.fused)
        return self._blend(h, self.alpha)

    def _seed_output(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The seed's input and its output in the host's dtype (counted if not finite)."""
        x = h.detach() if self.isolate else h
        s: torch.Tensor = self.seed(x)
        if s.dtype != h.dtype:
            s = s.to(h.dtype)  # may overflow (1e5 in float16): counted below
        if self.training:
            # One float32 reduction instead of an elementwise mask: the sum of s is finite
            # exactly when every element is (short of a float32 overflow of the sum itself,
            # which only values near 1e38 reach), and it stays on the device.
            total = s.detach().sum(dtype=torch.float32)
            self.nonfinite.add_((~torch.isfinite(total)).to(torch.int32))
        return x, s

    def _incubate(self, h: torch.Tensor) -> torch.Tensor:
        _, s = self._seed_output(h)
        out: torch.Tensor = _Incubate.apply(h, s)  # type: ignore[no-untyped-call,unused-ignore]
        return out

    def _blend(self, h: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        x, s = self._seed_output(h)
        alpha = alpha.to(h.dtype).clamp(0.0, 1.0)
        if self._blend_kind == _MULTIPLY:
            return h * (1.0 + alpha * torch.tanh(s - x.to(s.dtype)))
        if self._blend_kind == _GATE and self.gate is not None:
            alpha = (alpha * self.gate(x).to(h.dtype)).clamp(0.0, 1.0)
        return torch.lerp(h, s, alpha)

    def _fused_forward(self, h: torch.Tensor, plan: FusedPlan) -> torch.Tensor:
        h, alphas, off = plan.apply(self.slot_id, h, self.alpha.to(torch.float32))
        if not any(off):
            return self._blend(h, alphas)
        # Every blend is the identity at alpha 0: run the seed only for the groups that use it.
        b = plan.batch
        on = [g for g, skip in enumerate(off) if not skip]
        if not on:
            return h
        blended = self._blend(
            torch.cat([h[g * b : (g + 1) * b] for g in on]),
            torch.cat([alphas[g * b : (g + 1) * b] for g in on]) if alphas.shape[0] > 1 else alphas,
        )
        rows = iter(range(len(on)))
        return torch.cat(
            [
                h[g * b : (g + 1) * b] if skip else blended[(i := next(rows)) * b : (i + 1) * b]
                for g, skip in enumerate(off)
            ]
        )
