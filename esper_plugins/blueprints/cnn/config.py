"""Options of the CNN host (the ``[task]``/host config section structures into this). No torch."""

from __future__ import annotations

import attrs
from attrs import validators as v

from esper.plugin import MAX_WIDTH

MEMORY_FORMATS = ("channels_last", "contiguous")


def _odd(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value % 2 != 1:
        raise ValueError(
            f"{attribute.name} must be odd (so padding k//2 keeps the size), got {value}"
        )


@attrs.frozen(kw_only=True)
class CNNHostConfig:
    """Options of `esper_plugins.blueprints.cnn.host.CNNHost`.

    The defaults are the CIFAR baseline host (base 8, 3 blocks of 3x3, pool after every
    block: 6,418 parameters with 10 classes). The number of classes is not an option here:
    the task supplies it.
    """

    #: Block i has ``base_channels * 2**i`` channels, at most MAX_WIDTH in the last block
    #: (checked below; n_blocks <= 17 leaves room for base_channels = 1).
    base_channels: int = attrs.field(
        default=8, validator=[v.instance_of(int), v.ge(1), v.le(MAX_WIDTH)]
    )
    n_blocks: int = attrs.field(default=3, validator=[v.instance_of(int), v.ge(2), v.le(17)])
    kernel_size: int = attrs.field(
        default=3, validator=[v.instance_of(int), v.ge(1), v.le(63), _odd]
    )
    #: Blocks followed by a 2x2 max-pool, counted from the first; None = every block.
    pool_layers: int | None = attrs.field(
        default=None, validator=v.optional([v.instance_of(int), v.ge(0), v.le(17)])
    )
    in_channels: int = attrs.field(
        default=3, validator=[v.instance_of(int), v.ge(1), v.le(MAX_WIDTH)]
    )
    memory_format: str = attrs.field(default="channels_last", validator=v.in_(MEMORY_FORMATS))

    def __attrs_post_init__(self) -> None:
        # The last block is the widest: base_channels * 2**(n_blocks - 1) channels.
        widest = MAX_WIDTH // 2 ** (self.n_blocks - 1)
        if self.base_channels > widest:
            raise ValueError(
                f"base_channels ({self.base_channels}) must be <= {widest} with n_blocks = "
                f"{self.n_blocks} (the last block has base_channels * 2**(n_blocks - 1) "
                f"channels, at most {MAX_WIDTH})"
            )
        if self.pool_layers is not None and self.pool_layers > self.n_blocks:
            raise ValueError(
                f"pool_layers ({self.pool_layers}) must be <= n_blocks ({self.n_blocks})"
            )

    @property
    def pooled_blocks(self) -> int:
        return self.n_blocks if self.pool_layers is None else self.pool_layers
