"""The CNN host: a stack of conv blocks with a pre-pool and a post-pool slot per block."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from esper.plugin import InjectionPoint, SlottedHost
from esper_plugins.blueprints.cnn.config import CNNHostConfig


class ConvBlock(nn.Module):
    """Conv (k x k, same padding, no bias: BatchNorm supplies the shift) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class CNNHost(SlottedHost):
    """A small image classifier with named slots.

    ``n_blocks`` ConvBlocks with ``base_channels * 2**i`` output channels; a 2x2 max-pool
    follows each of the first ``pool_layers`` blocks (default: all); global average pool and a
    linear head with ``num_classes`` outputs (required: the task decides it).

    Slots: ``r0c{i}`` (surface ``pre_pool``, order ``i``) after block ``i``, and ``r1c{i}``
    (``post_pool``, order ``n_blocks + i``) after pool ``i`` for pooled blocks. With
    ``memory_format="channels_last"`` (the default) parameters and activations are kept
    channels-last, which conv kernels on recent GPUs run faster.
    """

    topology = "cnn"

    def __init__(
        self,
        num_classes: int,
        *,
        base_channels: int = 8,
        n_blocks: int = 3,
        kernel_size: int = 3,
        pool_layers: int | None = None,
        in_channels: int = 3,
        memory_format: str = "channels_last",
    ) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        # The config class holds the validation rules, so the host and config files agree.
        self.config = CNNHostConfig(
            base_channels=base_channels,
            n_blocks=n_blocks,
            kernel_size=kernel_size,
            pool_layers=pool_layers,
            in_channels=in_channels,
            memory_format=memory_format,
        )
        self.num_classes = num_classes
        self.n_blocks = n_blocks
        self.pooled_blocks = self.config.pooled_blocks
        self.channels = [base_channels * 2**i for i in range(n_blocks)]
        # Declared to the engine (input batches) and, per injection point, to the seeds.
        self.input_memory_format = memory_format
        self.memory_format = (
            torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
        )

        blocks = []
        c_in = in_channels
        for c_out in self.channels:
            blocks.append(ConvBlock(c_in, c_out, kernel_size))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c_in, num_classes)
        self._pre_ids = [f"r0c{i}" for i in range(n_blocks)]
        self._post_ids = [f"r1c{i}" for i in range(self.pooled_blocks)]
        if self.memory_format is torch.channels_last:
            # (torch's stubs lack the memory_format overload of Module.to)
            self.to(memory_format=torch.channels_last)  # type: ignore[call-overload,unused-ignore]

    def injection_points(self) -> Sequence[InjectionPoint]:
        n = self.n_blocks

        def point(
            slot_id: str, block: int, surface: str, order: int, position: float
        ) -> InjectionPoint:
            # [B, C, H, W] features in the host's memory format; seeds stay isolated until
            # they are fossilized. The probe's 8x8 is any small spatial size.
            channels = self.channels[block]
            return InjectionPoint(
                slot_id=slot_id,
                channels=channels,
                surface=surface,
                order=order,
                position=position,
                probe_shape=(2, channels, 8, 8),
                channel_dim=1,
                memory_format=self.input_memory_format,
            )

        pre = [point(f"r0c{i}", i, "pre_pool", i, (i + 0.5) / n) for i in range(n)]
        post = [
            point(f"r1c{i}", i, "post_pool", n + i, (i + 1) / n) for i in range(self.pooled_blocks)
        ]
        return pre + post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"CNNHost expects [B, C, H, W] images, got shape {tuple(x.shape)}")
        x = x.contiguous(memory_format=self.memory_format)
        for i, block in enumerate(self.blocks):
            x = self.slot(self._pre_ids[i], block(x))
            if i < self.pooled_blocks:
                x = self.slot(self._post_ids[i], F.max_pool2d(x, 2))
        logits: torch.Tensor = self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return logits


def build_cnn_host(config: CNNHostConfig | None = None, *, num_classes: int) -> CNNHost:
    """HostSpec factory: ``factory(config, num_classes=...)``; the task supplies ``num_classes``."""
    cfg = config or CNNHostConfig()
    return CNNHost(
        num_classes,
        base_channels=cfg.base_channels,
        n_blocks=cfg.n_blocks,
        kernel_size=cfg.kernel_size,
        pool_layers=cfg.pool_layers,
        in_channels=cfg.in_channels,
        memory_format=cfg.memory_format,
    )
