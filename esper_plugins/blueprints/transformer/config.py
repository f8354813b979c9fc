"""Options of the transformer host and of the configurable transformer seeds. No torch."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v

from esper.plugin import MAX_WIDTH

#: Most heads, layers or segments an option may ask for (far beyond any useful host).
_MAX_DEPTH = 1024


def _size(default: int, high: int) -> Any:
    return attrs.field(default=default, validator=[v.instance_of(int), v.ge(1), v.le(high)])


@attrs.frozen(kw_only=True)
class TransformerHostConfig:
    """Options of `esper_plugins.blueprints.transformer.host.TransformerHost`.

    The defaults are a small GPT that trains on a CPU (128 wide, 4 heads, 4 layers, context
    128, one slot after every layer: about 0.8M parameters plus ``vocab_size * 128`` for the
    tied embedding). The full-size configuration of the reference system is
    ``n_embd=384, n_head=6, n_layer=6, block_size=256, num_segments=3`` (about 30M parameters
    with the GPT-2 vocabulary). The vocabulary size is not an option here: the task supplies it.
    """

    n_embd: int = _size(128, MAX_WIDTH)
    n_head: int = _size(4, _MAX_DEPTH)
    n_layer: int = _size(4, _MAX_DEPTH)
    #: Context length (a position-embedding row per token).
    block_size: int = _size(128, 65_536)
    dropout: float = attrs.field(default=0.1, converter=float, validator=[v.ge(0.0), v.lt(1.0)])
    #: Hidden width of each layer's MLP, in multiples of ``n_embd`` (0: attention-only layers).
    mlp_ratio: int = attrs.field(default=4, validator=[v.instance_of(int), v.ge(0), v.le(64)])
    #: Groups of ``n_layer / num_segments`` layers; one slot ``r0c<i>`` after each group.
    num_segments: int = _size(4, _MAX_DEPTH)

    def __attrs_post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.n_layer % self.num_segments:
            raise ValueError(
                f"n_layer ({self.n_layer}) must be divisible by num_segments ({self.num_segments})"
            )


@attrs.frozen(kw_only=True)
class AttentionSeedConfig:
    """Options of the ``attention`` seed."""

    n_head: int = _size(4, _MAX_DEPTH)


@attrs.frozen(kw_only=True)
class FlexAttentionSeedConfig:
    """Options of the ``flex_attention`` seed.

    ``compile_kernel``: on CUDA, run FlexAttention through ``torch.compile`` (the fused kernel;
    uncompiled FlexAttention materialises the full score matrix). ``flex_on_cpu``: on CPU
    without autograd, use FlexAttention (eager, much slower than SDPA but the same result);
    False always uses SDPA on CPU.
    """

    n_head: int = _size(4, _MAX_DEPTH)
    compile_kernel: bool = attrs.field(default=True, validator=v.instance_of(bool))
    flex_on_cpu: bool = attrs.field(default=True, validator=v.instance_of(bool))


@attrs.frozen(kw_only=True)
class MLPSeedConfig:
    """Options of the ``mlp`` and ``mlp_small`` seeds.

    ``checkpoint``: recompute the hidden activations in backward instead of storing them.
    """

    checkpoint: bool = attrs.field(default=False, validator=v.instance_of(bool))
