"""Exact parameter counts of the transformer host and seeds. No torch.

Each ``*_params(dim)`` returns the number of parameters the matching seed in
`esper_plugins.blueprints.transformer.seeds` has at embedding width ``dim`` (tests check it
against the built module for several widths). The attention seeds' count does not depend on
the number of heads.
"""

from __future__ import annotations

LORA_RANK = 8
LORA_LARGE_RANK = 32
MLP_SMALL_EXPANSION = 2
MLP_EXPANSION = 4


def noop_params(dim: int) -> int:
    return 0


def norm_params(dim: int) -> int:
    # LayerNorm weight + bias, plus the scalar blend gate.
    return 2 * dim + 1


def lora_params(dim: int) -> int:
    return 2 * LORA_RANK * dim


def lora_large_params(dim: int) -> int:
    return 2 * LORA_LARGE_RANK * dim


def attention_params(dim: int) -> int:
    # fused QKV (3d^2 + 3d) + output projection (d^2 + d)
    return 4 * dim * dim + 4 * dim


def flex_attention_params(dim: int) -> int:
    return attention_params(dim)


def _mlp(dim: int, expansion: int) -> int:
    hidden = expansion * dim
    return dim * hidden + hidden + hidden * dim + dim


def mlp_small_params(dim: int) -> int:
    return _mlp(dim, MLP_SMALL_EXPANSION)


def mlp_params(dim: int) -> int:
    return _mlp(dim, MLP_EXPANSION)


def host_params(
    vocab_size: int, *, n_embd: int, n_layer: int, block_size: int, mlp_ratio: int = 4
) -> int:
    """Unique parameters of `TransformerHost` (the tied LM head counted once)."""
    d = n_embd
    # An attention-only layer (mlp_ratio 0) has neither the MLP nor its LayerNorm.
    mlp = 2 * d + _mlp(d, mlp_ratio) if mlp_ratio else 0
    per_layer = 2 * d + attention_params(d) + mlp
    return vocab_size * d + block_size * d + n_layer * per_layer + 2 * d
