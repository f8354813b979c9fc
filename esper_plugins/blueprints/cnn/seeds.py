"""Seed modules for CNN hosts: [B, C, H, W] -> [B, C, H, W].

Every seed
- keeps its input's memory format (a channels-last input gives a channels-last output and a
  contiguous input a contiguous output, whatever format the seed's own weights are in), so
  that growing a seed never flips the host's layout half-way through the network;
- keeps its input's dtype under autocast (learned branches are cast back before the residual
  add, so a bfloat16 activation is not promoted to float32 by a float32 GroupNorm);
- uses GroupNorm rather than BatchNorm, so seeds carry no running statistics.

Parameter counts match `esper_plugins.blueprints.cnn.params` exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from esper_plugins.blueprints.cnn import params
from esper_plugins.blueprints.common import check_config


def match_memory_format(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``out`` in the memory format of ``like`` (a no-op when it already is)."""
    if (
        like.dim() == 4
        and not like.is_contiguous()
        and like.is_contiguous(memory_format=torch.channels_last)
    ):
        return out.contiguous(memory_format=torch.channels_last)
    return out.contiguous()


class GroupNorm(nn.GroupNorm):
    """`nn.GroupNorm` that avoids a CPU crash in PyTorch's channels-last backward.

    PyTorch's CPU kernel (seen with 2.13) segfaults in backward when the input is channels-last
    and does not require grad, i.e. when only the affine parameters need gradients. That is
    exactly a seed's first layer in TRAINING, whose input is detached host features. The input
    is then made standard-contiguous for the norm (one copy) and the output converted back.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type == "cpu"
            and not x.requires_grad
            and torch.is_grad_enabled()
            and x.dim() == 4
            and not x.is_contiguous()
            and x.is_contiguous(memory_format=torch.channels_last)
        ):
            out = super().forward(x.contiguous())
            return out.contiguous(memory_format=torch.channels_last)
        result: torch.Tensor = super().forward(x)
        return result


def _group_norm(channels: int) -> GroupNorm:
    return GroupNorm(params.num_groups(channels), channels)


class NormSeed(nn.Module):
    """``x + tanh(s) * (GroupNorm(x) - x)`` with a scalar ``s`` starting at 0: identity at birth."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _group_norm(channels)
        self.scale = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # tanh bounds the blend to [-1, 1] so the gate cannot blow up.
        delta = torch.tanh(self.scale) * (self.norm(x) - x)
        return match_memory_format(x + delta.to(x.dtype), x)


class SqueezeExciteSeed(nn.Module):
    """Channel attention: ``x * sigmoid(W2 relu(W1 mean_hw(x)) + b2)``.

    ``W2 = 0`` and ``b2 = 3`` at birth: every channel is scaled by sigmoid(3) ~ 0.953, the same
    for every input, so the seed starts close to (not exactly) the identity.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = params.se_width(channels)
        self.squeeze = nn.Linear(channels, hidden, bias=False)
        self.excite = nn.Linear(hidden, channels)
        nn.init.zeros_(self.excite.weight)
        nn.init.constant_(self.excite.bias, 3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        gate = torch.sigmoid(self.excite(F.relu(self.squeeze(x.mean(dim=(2, 3))))))
        return match_memory_format(x * gate.to(x.dtype).view(b, c, 1, 1), x)


class DepthwiseSeed(nn.Module):
    """``x + relu(GN(pointwise1x1(depthwise3x3(x))))``; default init (not identity at birth)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm = _group_norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = F.relu(self.norm(self.pointwise(self.depthwise(x))))
        return match_memory_format(x + branch.to(x.dtype), x)


class BottleneckSeed(nn.Module):
    """``x + GN(up1x1(relu(conv3x3(relu(down1x1(x))))))``: identity at birth.

    The GroupNorm's affine weight (not the ``up`` conv) starts at 0. Zeroing ``up`` instead
    would also give the identity, but GroupNorm rescales any non-zero input to unit variance,
    so the first update, however small, would make the branch jump to full size; with a zero
    affine weight the branch grows in proportion to that weight.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        width = params.bottleneck_width(channels)
        self.down = nn.Conv2d(channels, width, 1, bias=False)
        self.conv = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.up = nn.Conv2d(width, channels, 1, bias=False)
        self.norm = _group_norm(channels)
        nn.init.zeros_(self.norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.relu(self.conv(F.relu(self.down(x))))
        branch = self.norm(self.up(hidden))
        return match_memory_format(x + branch.to(x.dtype), x)


class ConvSmallSeed(nn.Module):
    """``x + g * relu(GN(conv1x1(x)))`` with a scalar gate ``g`` starting at 0: identity at birth.

    The gate is what makes the identity trainable: zeroing the conv (or the norm) instead
    puts every ReLU input at exactly 0, where ReLU's gradient is 0, so no parameter would
    ever receive a gradient and the seed could never grow.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm = _group_norm(channels)
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.gate * F.relu(self.norm(self.conv(x)))
        return match_memory_format(x + branch.to(x.dtype), x)


class SeedConvBlock(nn.Module):
    """conv3x3 (no bias) -> GroupNorm -> ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = _group_norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))


class ConvStackSeed(nn.Module):
    """``x + blocks(x)`` with ``depth`` SeedConvBlocks; default init (not identity at birth)."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(SeedConvBlock(channels) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return match_memory_format(x + self.blocks(x).to(x.dtype), x)


def _check(name: str, dim: int, config: object) -> None:
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"blueprint {name!r}: dim must be a positive int, got {dim!r}")
    check_config(name, config, None)


def create_noop(dim: int, config: object = None) -> nn.Module:
    _check("noop", dim, config)
    return nn.Identity()


def create_norm(dim: int, config: object = None) -> nn.Module:
    _check("norm", dim, config)
    return NormSeed(dim)


def create_attention(dim: int, config: object = None) -> nn.Module:
    _check("attention", dim, config)
    return SqueezeExciteSeed(dim)


def create_depthwise(dim: int, config: object = None) -> nn.Module:
    _check("depthwise", dim, config)
    return DepthwiseSeed(dim)


def create_bottleneck(dim: int, config: object = None) -> nn.Module:
    _check("bottleneck", dim, config)
    return BottleneckSeed(dim)


def create_conv_small(dim: int, config: object = None) -> nn.Module:
    _check("conv_small", dim, config)
    return ConvSmallSeed(dim)


def create_conv_light(dim: int, config: object = None) -> nn.Module:
    _check("conv_light", dim, config)
    return ConvStackSeed(dim, depth=1)


def create_conv_heavy(dim: int, config: object = None) -> nn.Module:
    _check("conv_heavy", dim, config)
    return ConvStackSeed(dim, depth=2)
