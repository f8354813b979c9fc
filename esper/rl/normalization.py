"""Running normalisers for rewards, value targets and (optionally) observations (spec 5.5).

* `RewardNormalizer`: divides rewards by their running *sample* standard deviation (Welford /
  Chan's parallel update, in Python floats) **without subtracting the mean**, so the sign of a
  reward never flips; the result is clipped to ``[-clip, clip]``. Until two rewards have been
  seen the standard deviation is undefined and rewards are only clipped.
* `ValueNormalizer` (PopArt-lite): a running scale for value targets. Welford statistics for
  the first ``warmup`` samples, then an exponential moving average (momentum 0.99) of the batch
  mean and variance. ``normalize(x) = x / std`` and ``denormalize(v) = v * std`` (no mean
  shift); it is the identity until ``warmup`` samples were seen. The critic trains on
  normalised returns and GAE uses denormalised values. (Unlike full PopArt, the critic's last
  layer is not rescaled when the scale changes.)
* `RunningMeanStd`: per-feature mean and variance, a module whose buffers hold them, that
  normalises to zero mean and unit variance, clipped; for observations
  (`esper.policies.lstm`'s ``normalize_observations``).

Statistics are updated from device tensors with one host transfer per call (count, mean, M2
of the batch); normalising is pure tensor arithmetic. ``state_dict`` holds plain Python floats
and ints (`RunningMeanStd`'s are module buffers), loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from esper.errors import EsperError


class NormalizerError(EsperError):
    """A normaliser was configured or restored with values that define no normaliser."""


def _batch_moments(
    values: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[int, float, float]:
    """``(count, mean, M2)`` of a tensor's finite entries (where ``mask``), one host transfer."""
    flat = values.detach().reshape(-1).double()
    finite = torch.isfinite(flat)
    if mask is not None:
        finite = finite & mask.reshape(-1)
    count = finite.sum()
    x = torch.where(finite, flat, 0.0)
    mean = x.sum() / count.clamp(min=1)
    m2 = (torch.where(finite, x - mean, 0.0) ** 2).sum()
    n, mu, sq = torch.stack([count.double(), mean, m2]).tolist()
    return int(n), float(mu), float(sq)


def _combine(
    n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float
) -> tuple[int, float, float]:
    """Chan et al.'s parallel Welford update of two partial statistics."""
    n = n_a + n_b
    if n == 0:
        return 0, 0.0, 0.0
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / n
    m2 = m2_a + m2_b + delta * delta * n_a * n_b / n
    return n, mean, m2


class RewardNormalizer:
    """``clip(r / std, -clip, clip)`` with the running sample std of every reward seen."""

    def __init__(self, *, clip: float = 10.0, std_floor: float = 1e-8) -> None:
        if clip <= 0 or std_floor <= 0:
            raise NormalizerError(f"clip and std_floor must be positive, got {clip}, {std_floor}")
        self.clip = float(clip)
        self.std_floor = float(std_floor)
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    @property
    def std(self) -> float:
        """Sample standard deviation (floored); 1.0 while fewer than two rewards were seen."""
        if self.count < 2:
            return 1.0
        return max(math.sqrt(self.m2 / (self.count - 1)), self.std_floor)

    def update(self, rewards: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Add a batch of raw rewards (where ``mask``; non-finite entries are ignored)."""
        n, mean, m2 = _batch_moments(rewards, mask)
        self.count, self.mean, self.m2 = _combine(self.count, self.mean, self.m2, n, mean, m2)

    def normalize(self, rewards: torch.Tensor) -> torch.Tensor:
        """Rewards divided by the running std (no mean shift), clipped to ``[-clip, clip]``."""
        return (rewards / self.std).clamp(-self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "clip": self.clip,
            "std_floor": self.std_floor,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        self.mean = float(state["mean"])
        self.m2 = float(state["m2"])
        self.clip = float(state["clip"])
        self.std_floor = float(state["std_floor"])


class ValueNormalizer:
    """PopArt-lite scale of value targets: Welford for ``warmup`` samples, then EMA."""

    def __init__(
        self, *, warmup: int = 32, momentum: float = 0.99, std_floor: float = 1e-4
    ) -> None:
        if warmup < 1:
            raise NormalizerError(f"warmup must be at least 1, got {warmup}")
        if not 0.0 <= momentum < 1.0:
            raise NormalizerError(f"momentum must be within [0, 1), got {momentum}")
        if std_floor <= 0:
            raise NormalizerError(f"std_floor must be positive, got {std_floor}")
        self.warmup = warmup
        self.momentum = float(momentum)
        self.std_floor = float(std_floor)
        self.count = 0
        self.mean = 0.0
        self.var = 1.0
        self._m2 = 0.0

    @property
    def active(self) -> bool:
        """Whether enough samples were seen for the scale to apply (identity before)."""
        return self.count >= self.warmup

    @property
    def std(self) -> float:
        """The scale: 1.0 until ``warmup`` samples were seen, then the running std (floored)."""
        if not self.active:
            return 1.0
        return max(math.sqrt(self.var), self.std_floor)

    def update(self, returns: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Add a batch of raw (denormalised) returns (where ``mask``; non-finite ignored)."""
        n, mean, m2 = _batch_moments(returns, mask)
        if n == 0:
            return
        if self.count < self.warmup:
            self.count, self.mean, self._m2 = _combine(self.count, self.mean, self._m2, n, mean, m2)
            self.var = self._m2 / max(self.count - 1, 1)
            return
        m = self.momentum
        batch_var = m2 / max(n - 1, 1)
        old_mean = self.mean
        self.mean = m * old_mean + (1 - m) * mean
        # Variance around the new mean: both parts' spread plus their means' offsets.
        self.var = m * (self.var + (old_mean - self.mean) ** 2) + (1 - m) * (
            batch_var + (mean - self.mean) ** 2
        )
        self.count += n

    def normalize(self, values: torch.Tensor) -> torch.Tensor:
        """Raw returns to the critic's scale: ``x / std``."""
        return values / self.std

    def denormalize(self, values: torch.Tensor) -> torch.Tensor:
        """Critic outputs to the rewards' scale: ``v * std``."""
        return values * self.std

    def state_dict(self) -> dict[str, Any]:
        return {
            "warmup": self.warmup,
            "momentum": self.momentum,
            "std_floor": self.std_floor,
            "count": self.count,
            "mean": self.mean,
            "var": self.var,
            "m2": self._m2,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.warmup = int(state["warmup"])
        self.momentum = float(state["momentum"])
        self.std_floor = float(state["std_floor"])
        self.count = int(state["count"])
        self.mean = float(state["mean"])
        self.var = float(state["var"])
        self._m2 = float(state["m2"])


class RunningMeanStd(nn.Module):
    """Per-feature running mean and variance as a module: ``forward(x)`` (= ``normalize``)
    gives zero mean, unit variance, ``clip((x - mean) / sqrt(var + eps), -clip, clip)``.

    The statistics are float32 buffers, so they travel with the module's ``state_dict`` (a
    network that normalises its input carries what it normalises with, into every checkpoint)
    and move with ``.to(device)``. Before any sample the mean is 0 and the variance 1, so an
    unfed normaliser is (to within ``eps``) the identity and ``forward`` never branches on the
    count. ``update`` merges a batch exactly (Chan's parallel update, computed in float64) with
    one host transfer; a constant feature has variance 0 and normalises to 0.
    """

    count: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor

    def __init__(
        self, shape: tuple[int, ...] = (), *, eps: float = 1e-4, clip: float = 10.0
    ) -> None:
        super().__init__()
        if eps <= 0 or clip <= 0:
            raise NormalizerError(f"eps and clip must be positive, got {eps}, {clip}")
        self.shape = tuple(shape)
        self.eps = float(eps)
        self.clip = float(clip)
        self.register_buffer("count", torch.zeros((), dtype=torch.float32))
        self.register_buffer("mean", torch.zeros(self.shape, dtype=torch.float32))
        self.register_buffer("var", torch.ones(self.shape, dtype=torch.float32))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Add ``[n, *shape]`` samples."""
        x = batch.detach().to("cpu", torch.float64).reshape(-1, *self.shape)
        n = x.shape[0]
        if n == 0:
            return
        mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
        seen = float(self.count.item())
        old_mean = self.mean.to("cpu", torch.float64)
        old_m2 = self.var.to("cpu", torch.float64) * seen  # the unfed variance 1 weighs 0
        total = seen + n
        delta = mean - old_mean
        new_mean = old_mean + delta * (n / total)
        m2 = old_m2 + var * n + delta * delta * (seen * n / total)
        self.mean.copy_(new_mean)
        self.var.copy_(m2 / total)
        self.count.fill_(total)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        std = (self.var + self.eps).sqrt()
        return ((x - self.mean.to(x.dtype)) / std.to(x.dtype)).clamp(-self.clip, self.clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x)
