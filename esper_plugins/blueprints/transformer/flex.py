"""The FlexAttention seed: causal self-attention through `torch.nn.attention.flex_attention`.

Its own module so that runs without this seed never import FlexAttention or the compiler.

The causal block mask comes from a small per-module LRU cache. Where FlexAttention cannot run
(CPU with autograd on: it has no CPU backward; a torch without FlexAttention; devices other
than CUDA and CPU) the seed computes the same causal attention with SDPA, so results agree
whichever path runs (tests compare both on CPU without autograd).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from esper_plugins.blueprints.transformer.config import FlexAttentionSeedConfig
from esper_plugins.blueprints.transformer.seeds import AttentionSeed, check_args

try:
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
except ImportError:  # a torch without FlexAttention: the seed always uses SDPA
    BlockMask = Any  # type: ignore[misc,assignment]
    create_block_mask = None  # type: ignore[assignment]
    flex_attention = None  # type: ignore[assignment]


def _causal(
    b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor
) -> torch.Tensor:
    return q_idx >= kv_idx


@functools.cache
def _compiled_flex() -> Callable[..., Any]:
    # One compiled kernel per process: compiling per module would recompile for every seed.
    return torch.compile(flex_attention)


class FlexAttentionSeed(AttentionSeed):
    """`AttentionSeed` computed with FlexAttention and a cached causal block mask.

    Block masks are batch- and head-independent and depend only on the sequence length, the
    device (and, by the cache key, the dtype). They are kept in an LRU cache of
    `MAX_CACHED_MASKS` entries keyed by ``(seq_len, str(device), str(dtype))``; the lookup is
    excluded from ``torch.compile`` (dict mutation would break the graph), and moving or
    casting the module (``.to``, ``.cuda``, ``.half``...) empties the cache so a mask never
    outlives its device. `precompute_block_masks` fills the cache ahead of the first step.
    ``cache_stats`` counts hits, misses and evictions.
    """

    MAX_CACHED_MASKS = 8

    def __init__(
        self, dim: int, n_head: int, *, compile_kernel: bool = True, flex_on_cpu: bool = True
    ) -> None:
        super().__init__(dim, n_head)
        self.compile_kernel = compile_kernel
        self.flex_on_cpu = flex_on_cpu
        self._block_masks: OrderedDict[tuple[int, str, str], BlockMask] = OrderedDict()
        self.cache_stats = {"hits": 0, "misses": 0, "evictions": 0}

    # -- the block-mask cache ---------------------------------------------------------------

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> Any:
        # Every move or cast goes through _apply: cached masks would sit on the old device.
        self._block_masks.clear()
        return super()._apply(fn, recurse)  # type: ignore[no-untyped-call,unused-ignore]

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles (snapshots, rollbacks) start with an empty cache.
        state = self.__dict__.copy()
        state["_block_masks"] = OrderedDict()
        return state

    def cached_mask_keys(self) -> list[tuple[int, str, str]]:
        """Cache keys, least recently used first."""
        return list(self._block_masks)

    @torch.compiler.disable  # type: ignore[untyped-decorator,unused-ignore]
    def causal_block_mask(self, seq_len: int, device: torch.device, dtype: torch.dtype) -> Any:
        """The causal block mask for ``seq_len`` on ``device`` (cached, LRU)."""
        if create_block_mask is None:
            raise RuntimeError("this torch has no torch.nn.attention.flex_attention")
        key = (int(seq_len), str(device), str(dtype))
        mask = self._block_masks.get(key)
        if mask is not None:
            self._block_masks.move_to_end(key)
            self.cache_stats["hits"] += 1
            return mask
        self.cache_stats["misses"] += 1
        mask = create_block_mask(
            _causal, B=None, H=None, Q_LEN=seq_len, KV_LEN=seq_len, device=device
        )
        self._block_masks[key] = mask
        if len(self._block_masks) > self.MAX_CACHED_MASKS:
            self._block_masks.popitem(last=False)
            self.cache_stats["evictions"] += 1
        return mask

    def precompute_block_masks(
        self,
        seq_lens: Iterable[int],
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Build the masks for ``seq_lens`` now (default: this module's device and dtype).

        Call it after moving the module: a move empties the cache. Under autocast, pass the
        autocast dtype: the key uses the dtype attention runs in.
        """
        weight = self.qkv.weight
        dev = torch.device(device) if device is not None else weight.device
        for seq_len in seq_lens:
            self.causal_block_mask(seq_len, dev, dtype or weight.dtype)

    # -- attention --------------------------------------------------------------------------

    def uses_flex(self, x: torch.Tensor) -> bool:
        """Whether a forward on ``x`` runs FlexAttention (else causal SDPA)."""
        if flex_attention is None:
            return False
        if x.device.type == "cuda":
            return True
        # FlexAttention has no CPU backward; without autograd it runs (eager, unfused).
        return x.device.type == "cpu" and self.flex_on_cpu and not torch.is_grad_enabled()

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if not self.uses_flex(q):
            return super().attend(q, k, v)
        mask = self.causal_block_mask(q.shape[-2], q.device, q.dtype)
        kernel: Callable[..., Any] = flex_attention
        if q.device.type == "cuda" and self.compile_kernel:
            kernel = _compiled_flex()
        out = kernel(q, k, v, block_mask=mask)
        result: torch.Tensor = out[0] if isinstance(out, tuple) else out
        return result


def create_flex_attention(dim: int, config: FlexAttentionSeedConfig | None = None) -> nn.Module:
    check_args("flex_attention", dim, config, FlexAttentionSeedConfig)
    cfg = config or FlexAttentionSeedConfig()
    return FlexAttentionSeed(
        dim, cfg.n_head, compile_kernel=cfg.compile_kernel, flex_on_cpu=cfg.flex_on_cpu
    )
