"""The transformer host: a small pre-norm GPT with a slot after every group of layers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from esper.plugin import InjectionPoint, SlottedHost
from esper_plugins.blueprints.transformer.config import TransformerHostConfig


class CausalSelfAttention(nn.Module):
    """Fused QKV projection, causal scaled-dot-product attention, output projection."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.attn_dropout if self.training else 0.0
        )
        y: torch.Tensor = self.resid_dropout(self.proj(out.transpose(1, 2).reshape(b, t, c)))
        return y


class MLP(nn.Module):
    """Linear(d, r*d) -> GELU -> Linear(r*d, d) -> dropout."""

    def __init__(self, n_embd: int, dropout: float, ratio: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(n_embd, ratio * n_embd)
        self.proj = nn.Linear(ratio * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.dropout(self.proj(F.gelu(self.fc(x))))
        return y


class Block(nn.Module):
    """Pre-norm transformer layer: ``x + attn(ln1(x))`` then ``x + mlp(ln2(x))``; with
    ``mlp_ratio = 0`` the layer is attention only."""

    def __init__(self, n_embd: int, n_head: int, dropout: float, mlp_ratio: int = 4) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd) if mlp_ratio else None
        self.mlp = MLP(n_embd, dropout, mlp_ratio) if mlp_ratio else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        if self.mlp is None or self.ln2 is None:
            return x
        y: torch.Tensor = x + self.mlp(self.ln2(x))
        return y


class TransformerHost(SlottedHost):
    """A GPT-style language model with named slots.

    Token + learned position embeddings -> dropout -> ``n_layer`` pre-norm blocks -> final
    LayerNorm -> LM head whose weight is the token embedding (tied: one parameter).
    ``vocab_size`` is required (the task decides it). The other defaults are CPU-sized
    (128 wide, 4 heads, 4 layers, context 128); the reference system's full size is
    ``n_embd=384, n_head=6, n_layer=6, block_size=256, num_segments=3``.

    Slots: ``r0c{i}`` (surface ``block_end``, order ``i``) after each of ``num_segments``
    equal groups of layers; the last one sits just before the final LayerNorm. Input
    ``[B, T]`` token ids with ``T <= block_size``; output ``[B, T, vocab_size]`` logits.
    """

    topology = "transformer"

    def __init__(
        self,
        vocab_size: int,
        *,
        n_embd: int = 128,
        n_head: int = 4,
        n_layer: int = 4,
        block_size: int = 128,
        dropout: float = 0.1,
        num_segments: int = 4,
        mlp_ratio: int = 4,
    ) -> None:
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
        self.config = TransformerHostConfig(
            n_embd=n_embd,
            n_head=n_head,
            n_layer=n_layer,
            block_size=block_size,
            dropout=dropout,
            num_segments=num_segments,
            mlp_ratio=mlp_ratio,
        )
        self.vocab_size = vocab_size
        self.n_embd = n_embd
        self.block_size = block_size
        self.num_segments = num_segments
        self.layers_per_segment = n_layer // num_segments

        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        blocks = [Block(n_embd, n_head, dropout, mlp_ratio) for _ in range(n_layer)]
        self.blocks = nn.ModuleList(blocks)
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight
        self._slot_ids = [f"r0c{i}" for i in range(num_segments)]
        self._init_weights(blocks)

    def _init_weights(self, blocks: list[Block]) -> None:
        # GPT-2 initialisation; residual output projections shrunk by 1/sqrt(2 * n_layer) so
        # the residual stream's variance does not grow with depth.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
        resid_std = 0.02 / math.sqrt(2 * len(blocks))
        for block in blocks:
            nn.init.normal_(block.attn.proj.weight, mean=0.0, std=resid_std)
            if block.mlp is not None:
                nn.init.normal_(block.mlp.proj.weight, mean=0.0, std=resid_std)

    def injection_points(self) -> Sequence[InjectionPoint]:
        return [
            InjectionPoint(
                slot_id=slot_id,
                channels=self.n_embd,
                surface="block_end",
                order=i,
                position=(i + 1) / self.num_segments,
                # [B, T, d] features; a blending seed co-adapts with the host (the prior
                # system's rule for transformers: isolation ends when blending starts).
                probe_shape=(2, 8, self.n_embd),
                channel_dim=-1,
                isolate_while_blending=False,
            )
            for i, slot_id in enumerate(self._slot_ids)
        ]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        if idx.dim() != 2:
            raise ValueError(
                f"TransformerHost expects [B, T] token ids, got shape {tuple(idx.shape)}"
            )
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(
                f"sequence length {t} exceeds the host's block_size {self.block_size}; "
                "cut inputs to at most block_size tokens or build the host with a larger block_size"
            )
        x = self.drop(self.tok_emb(idx) + self.pos_emb(torch.arange(t, device=idx.device)))
        per = self.layers_per_segment
        for s, slot_id in enumerate(self._slot_ids):
            for block in self.blocks[s * per : (s + 1) * per]:
                x = block(x)
            x = self.slot(slot_id, x)
        logits: torch.Tensor = self.lm_head(self.ln_f(x))
        return logits


def build_transformer_host(
    config: TransformerHostConfig | None = None, *, vocab_size: int
) -> TransformerHost:
    """HostSpec factory: ``factory(config, vocab_size=...)``; the task supplies ``vocab_size``."""
    cfg = config or TransformerHostConfig()
    return TransformerHost(
        vocab_size,
        n_embd=cfg.n_embd,
        n_head=cfg.n_head,
        n_layer=cfg.n_layer,
        block_size=cfg.block_size,
        dropout=cfg.dropout,
        num_segments=cfg.num_segments,
        mlp_ratio=cfg.mlp_ratio,
    )
