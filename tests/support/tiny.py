"""Tiny hosts and blueprints for core tests (the real ones live in the blueprint plugins)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from esper.catalog import BlueprintCatalog
from esper.host import InjectionPoint, SlottedHost
from esper.manager import Registration
from esper.plugin import BlueprintSpec
from esper.registry import registry_from


class TinyCNN(SlottedHost):
    topology = "cnn"

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()
        )
        self.mid = nn.Sequential(
            nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.head = nn.Linear(8, classes)

    def injection_points(self) -> Sequence[InjectionPoint]:
        return (
            InjectionPoint(slot_id="r0c0", channels=4, surface="pre_pool", order=0),
            InjectionPoint(slot_id="r0c1", channels=8, surface="pre_pool", order=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.slot("r0c0", self.stem(x))
        h = self.slot("r0c1", self.mid(nn.functional.max_pool2d(h, 2)))
        out: torch.Tensor = self.head(h.mean(dim=(2, 3)))
        return out


class TinySeq(SlottedHost):
    topology = "transformer"

    def __init__(self, vocab: int = 11, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.block = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU())
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied

    def injection_points(self) -> Sequence[InjectionPoint]:
        return (
            InjectionPoint(
                slot_id="r0c0", channels=self.embed.embedding_dim, surface="post_mlp", order=0
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        h = self.slot("r0c0", h + self.block(h))
        out: torch.Tensor = self.head(h)
        return out


class ConvSeed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class LinearSeed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(x)


class Shrink(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1]


def conv_seed(dim: int, config: object = None) -> nn.Module:
    return ConvSeed(dim)


def linear_seed(dim: int, config: object = None) -> nn.Module:
    return LinearSeed(dim)


def bad_seed(dim: int, config: object = None) -> nn.Module:
    return Shrink()


def catalog(topology: str) -> BlueprintCatalog:
    regs = [
        Registration("tiny", BlueprintSpec(name="conv", topology="cnn", factory=conv_seed)),
        Registration("tiny", BlueprintSpec(name="bad", topology="cnn", factory=bad_seed)),
        Registration(
            "tiny", BlueprintSpec(name="lin", topology="transformer", factory=linear_seed)
        ),
    ]
    return BlueprintCatalog(registry_from(regs, "blueprints"), topology)
