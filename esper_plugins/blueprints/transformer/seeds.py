"""Seed modules for transformer hosts: [B, T, d] -> [B, T, d].

Every seed is residual (``x + branch(x)``) and keeps its input's dtype under autocast (the
branch is cast back before the add). Attention seeds are causal, like the host, so a seed
never lets a position see the future. Parameter counts match
`esper_plugins.blueprints.transformer.params` exactly.

The FlexAttention seed lives in `esper_plugins.blueprints.transformer.flex`, so that building
the other seeds never imports FlexAttention or the compiler.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from esper_plugins.blueprints.common import check_config
from esper_plugins.blueprints.transformer import params
from esper_plugins.blueprints.transformer.config import AttentionSeedConfig, MLPSeedConfig


class NormSeed(nn.Module):
    """``x + tanh(s) * (LayerNorm(x) - x)`` with a scalar ``s`` starting at 0: identity at birth."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.scale = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta: torch.Tensor = torch.tanh(self.scale) * (self.norm(x) - x)
        return x + delta.to(x.dtype)


class LoRASeed(nn.Module):
    """``x + up(down(x))``, rank ``rank``, no biases; ``up`` starts at 0: identity at birth."""

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, rank, bias=False)
        self.up = nn.Linear(rank, dim, bias=False)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch: torch.Tensor = self.up(self.down(x))
        return x + branch.to(x.dtype)


class AttentionSeed(nn.Module):
    """``x + proj(causal_attention(qkv(x)))``; ``proj`` starts at 0: identity at birth."""

    def __init__(self, dim: int, n_head: int) -> None:
        super().__init__()
        if dim % n_head:
            raise ValueError(f"attention seed: dim ({dim}) must be divisible by n_head ({n_head})")
        self.n_head = n_head
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Causal attention over ``[B, H, T, hd]`` tensors."""
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        out = self.attend(q, k, v).transpose(1, 2).reshape(b, t, d)
        branch: torch.Tensor = self.proj(out)
        return x + branch.to(x.dtype)


class MLPSeed(nn.Module):
    """``x + fc2(GELU(fc1(x)))``; ``fc2`` starts at 0: identity at birth.

    With ``checkpoint=True`` the hidden activations are recomputed in backward (training only).
    """

    def __init__(self, dim: int, expansion: int, *, checkpoint: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, expansion * dim)
        self.fc2 = nn.Linear(expansion * dim, dim)
        self.checkpoint = checkpoint
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(F.gelu(self.fc1(x)))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.checkpoint and self.training and torch.is_grad_enabled():
            branch: torch.Tensor = checkpoint(self._branch, x, use_reentrant=False)
        else:
            branch = self._branch(x)
        return x + branch.to(x.dtype)


def check_args(name: str, dim: int, config: object, expected: type | None) -> None:
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"blueprint {name!r}: dim must be a positive int, got {dim!r}")
    check_config(name, config, expected)


def create_noop(dim: int, config: object = None) -> nn.Module:
    check_args("noop", dim, config, None)
    return nn.Identity()


def create_norm(dim: int, config: object = None) -> nn.Module:
    check_args("norm", dim, config, None)
    return NormSeed(dim)


def create_lora(dim: int, config: object = None) -> nn.Module:
    check_args("lora", dim, config, None)
    return LoRASeed(dim, params.LORA_RANK)


def create_lora_large(dim: int, config: object = None) -> nn.Module:
    check_args("lora_large", dim, config, None)
    return LoRASeed(dim, params.LORA_LARGE_RANK)


def create_attention(dim: int, config: AttentionSeedConfig | None = None) -> nn.Module:
    check_args("attention", dim, config, AttentionSeedConfig)
    cfg = config or AttentionSeedConfig()
    return AttentionSeed(dim, cfg.n_head)


def create_mlp_small(dim: int, config: MLPSeedConfig | None = None) -> nn.Module:
    check_args("mlp_small", dim, config, MLPSeedConfig)
    cfg = config or MLPSeedConfig()
    return MLPSeed(dim, params.MLP_SMALL_EXPANSION, checkpoint=cfg.checkpoint)


def create_mlp(dim: int, config: MLPSeedConfig | None = None) -> nn.Module:
    check_args("mlp", dim, config, MLPSeedConfig)
    cfg = config or MLPSeedConfig()
    return MLPSeed(dim, params.MLP_EXPANSION, checkpoint=cfg.checkpoint)
