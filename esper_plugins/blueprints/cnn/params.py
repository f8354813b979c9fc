"""Exact parameter counts of the CNN host and seeds, and the GroupNorm group rule. No torch.

Each ``*_params(dim)`` returns the number of parameters the matching seed in
`esper_plugins.blueprints.cnn.seeds` has at ``dim`` channels (tests check it against the
built module for several widths), so listings can show sizes without building anything.
"""

from __future__ import annotations

#: Group counts tried in order; a group should hold at least this many channels.
_GROUP_CHOICES = (32, 16, 8, 4, 2, 1)
_MIN_CHANNELS_PER_GROUP = 16

#: Squeeze-excitation reduction and the bottleneck's reduction / minimum width.
SE_REDUCTION = 4
BOTTLENECK_REDUCTION = 4
BOTTLENECK_MIN_WIDTH = 8


def num_groups(channels: int) -> int:
    """GroupNorm group count for ``channels``.

    The largest of 32, 16, 8, 4, 2, 1 that divides ``channels`` with at least 16 channels per
    group; when no choice reaches 16 (narrow layers), the largest of them that divides.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    for groups in _GROUP_CHOICES:
        if channels % groups == 0 and channels // groups >= _MIN_CHANNELS_PER_GROUP:
            return groups
    for groups in _GROUP_CHOICES:
        if channels % groups == 0:
            return groups
    return 1  # unreachable: 1 divides everything


def se_width(channels: int) -> int:
    """Hidden width of the squeeze-excitation MLP."""
    return max(1, channels // SE_REDUCTION)


def bottleneck_width(channels: int) -> int:
    """Inner width of the bottleneck seed."""
    return max(BOTTLENECK_MIN_WIDTH, channels // BOTTLENECK_REDUCTION)


def noop_params(dim: int) -> int:
    return 0


def norm_params(dim: int) -> int:
    # GroupNorm weight + bias, plus the scalar blend gate.
    return 2 * dim + 1


def attention_params(dim: int) -> int:
    r = se_width(dim)
    # squeeze FC (no bias) + excite FC with bias
    return 2 * dim * r + dim


def depthwise_params(dim: int) -> int:
    # 3x3 depthwise + 1x1 pointwise (no biases) + GroupNorm
    return 9 * dim + dim * dim + 2 * dim


def bottleneck_params(dim: int) -> int:
    b = bottleneck_width(dim)
    # 1x1 down + 3x3 inner + 1x1 up (no biases) + GroupNorm on the output
    return 2 * dim * b + 9 * b * b + 2 * dim


def conv_small_params(dim: int) -> int:
    # 1x1 conv (no bias) + GroupNorm + the scalar gate that starts at 0
    return dim * dim + 2 * dim + 1


def conv_light_params(dim: int) -> int:
    return 9 * dim * dim + 2 * dim


def conv_heavy_params(dim: int) -> int:
    return 2 * conv_light_params(dim)


def host_params(
    num_classes: int,
    *,
    base_channels: int = 8,
    n_blocks: int = 3,
    kernel_size: int = 3,
    in_channels: int = 3,
) -> int:
    """Parameters of `CNNHost` with these options (conv weights, BatchNorm affine, head)."""
    total = 0
    c_in = in_channels
    for i in range(n_blocks):
        c_out = base_channels * 2**i
        total += c_in * c_out * kernel_size * kernel_size + 2 * c_out
        c_in = c_out
    return total + c_in * num_classes + num_classes
