"""The module that sits in a host's slot while a seed lives there.

`SeedModule` wraps the blueprint module and decides how its output meets the host's
features, by stage:

* GERMINATED (and every non-active stage): the seed is not executed; the output is the host's.
* TRAINING: the straight-through incubator. The output *is* the host features (``h + (s - s)``
  with the second ``s`` detached is exactly ``h``), yet the seed receives the loss gradient as
  if its output were used. With isolation the seed's input is detached too, so the host's
  gradients are bit-identical to a model without the seed.
* BLENDING / HOLDING / FOSSILIZED: blend with amplitude alpha by the chosen algorithm:
  ADD ``lerp(h, s, alpha)``; MULTIPLY, a bounded valve ``h * (1 + alpha * tanh(s - x))``
  that is the identity at alpha 0; GATE, ``lerp(h, s, alpha * g(x))`` with a learned
  per-sample gate.

Alpha lives in a 0-dim buffer so that changing it never recompiles a compiled host; the
stage and algorithm are plain attributes (a compiled host recompiles once per distinct
stage/algorithm, a small constant over a lifecycle). The seed's output is cast to the host's
dtype before it meets the host features (under autocast they can differ).
"""

from __future__ import annotations

import torch
from torch import nn

from esper.alpha import AlphaAlgorithm
from esper.lifecycle import Stage, is_active


class GatedBlend(nn.Module):
    """Per-sample gate in [0, 1]: pool features, a small MLP, sigmoid; broadcastable to the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(8, channels // 4)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape: tuple[int, ...]
        if x.dim() == 4:  # [B, C, H, W]: spatial mean
            pooled = x.mean(dim=(2, 3))
            shape = (-1, 1, 1, 1)
        else:  # [B, T, C]: sequence mean
            pooled = x.mean(dim=1)
            shape = (-1, 1, 1)
        hidden = torch.relu(self.fc1(pooled.to(self.fc1.weight.dtype)))
        return torch.sigmoid(self.fc2(hidden)).reshape(shape)


class FusedAlphas:
    """This slot's alpha in each of K configurations of a fused evaluation over a batch of B.

    The host's features stay at batch B until the first slot whose alpha differs between
    configurations; that slot repeats them K times (configuration-major), and every later slot
    sees K*B samples. Everything before that point is computed once for all K configurations.
    """

    def __init__(self, k: int, batch: int, values: torch.Tensor, uniform: bool) -> None:
        self.k, self.batch, self.values, self.uniform = k, batch, values, uniform

    def expand_and_alphas(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tail = (1,) * (h.dim() - 1)
        if h.shape[0] == self.batch and not self.uniform and self.k > 1:
            h = h.repeat((self.k, *tail))
        if h.shape[0] == self.batch * self.k and self.k > 1:
            return h, self.values.repeat_interleave(self.batch).reshape((-1, *tail))
        return h, self.values[0].reshape((1, *tail))


class SeedModule(nn.Module):
    """A blueprint module plus the blending that joins it to the host."""

    def __init__(
        self, seed: nn.Module, channels: int, algorithm: AlphaAlgorithm = AlphaAlgorithm.ADD
    ) -> None:
        super().__init__()
        self.seed: nn.Module = seed
        self.channels = channels
        self.stage = Stage.GERMINATED
        self.isolate = True
        self.algorithm = AlphaAlgorithm(algorithm)
        self.gate: GatedBlend | None = (
            GatedBlend(channels) if self.algorithm is AlphaAlgorithm.GATE else None
        )
        self.alpha: torch.Tensor
        self.register_buffer("alpha", torch.zeros(()), persistent=True)
        # Per-sample alphas (one evaluation, sequential style); None outside it.
        self.alpha_override: torch.Tensor | None = None
        # Fused counterfactual pass: see `FusedAlphas`; None outside it.
        self.fused: FusedAlphas | None = None

    def set_algorithm(self, algorithm: AlphaAlgorithm) -> None:
        algorithm = AlphaAlgorithm(algorithm)
        if algorithm is AlphaAlgorithm.GATE and self.gate is None:
            ref = next(self.seed.parameters(), self.alpha)
            self.gate = GatedBlend(self.channels).to(device=ref.device)
        elif algorithm is not AlphaAlgorithm.GATE:
            self.gate = None
        self.algorithm = algorithm

    def set_alpha(self, value: float) -> None:
        # In-place fill keeps the buffer's identity (and a compiled graph's guard) intact.
        with torch.no_grad():
            self.alpha.fill_(float(value))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not is_active(self.stage):
            return h
        override = self.alpha_override
        if self.fused is not None:
            h, override = self.fused.expand_and_alphas(h)
        x = h.detach() if self.isolate else h
        s: torch.Tensor = self.seed(x)
        if s.dtype != h.dtype:
            s = s.to(h.dtype)
        if self.stage is Stage.TRAINING and override is None:
            return h + (s - s.detach())
        alpha = (override if override is not None else self.alpha).to(h.dtype).clamp(0.0, 1.0)
        if self.algorithm is AlphaAlgorithm.MULTIPLY:
            return h * (1.0 + alpha * torch.tanh(s - x.to(s.dtype)))
        if self.algorithm is AlphaAlgorithm.GATE and self.gate is not None:
            alpha = (alpha * self.gate(x).to(h.dtype)).clamp(0.0, 1.0)
        return torch.lerp(h, s, alpha)
