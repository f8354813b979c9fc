"""Tiny hosts and blueprints for core tests (the real ones live in the blueprint plugins)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from esper.growth.catalog import BlueprintCatalog
from esper.growth.host import InjectionPoint, SlottedHost
from esper.plugin import BlueprintSpec
from esper.registry import registry_from
from esper.registry.manager import Registration


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
            InjectionPoint(
                slot_id="r0c0", channels=4, surface="pre_pool", order=0, probe_shape=(2, 4, 8, 8)
            ),
            InjectionPoint(
                slot_id="r0c1", channels=8, surface="pre_pool", order=1, probe_shape=(2, 8, 4, 4)
            ),
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
                slot_id="r0c0",
                channels=self.embed.embedding_dim,
                surface="post_mlp",
                order=0,
                probe_shape=(2, 8, self.embed.embedding_dim),
                channel_dim=-1,
                isolate_while_blending=False,
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        h = self.slot("r0c0", h + self.block(h))
        out: torch.Tensor = self.head(h)
        return out


class SlotNet(nn.Module):
    """conv -> [slot] -> conv -> head, with an optional module in the slot (no host protocol:
    the seed module's own semantics, tested against the same net with an empty slot)."""

    def __init__(self, slot: nn.Module | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)
        self.slot = slot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.a(x))
        if self.slot is not None:
            h = self.slot(h)
        h = torch.relu(self.b(h))
        out: torch.Tensor = self.head(h.mean(dim=(2, 3)))
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


# -- tiny tasks for engine tests -------------------------------------------------------------

from pathlib import Path  # noqa: E402

from esper.contracts.task import Task, TaskData, TaskInfo  # noqa: E402
from esper.registry import Registries  # noqa: E402


class TinyImageTask(Task):
    """Learnable 5-class data: the class is the brightest of 5 colour/position patterns."""

    def __init__(self, classes: int = 5, n_train: int = 256, n_val: int = 128) -> None:
        self.info = TaskInfo(
            kind="classification", topology="cnn", num_outputs=classes, batch_size=32
        )
        self.n_train, self.n_val = n_train, n_val

    def build_host(self, registries: Registries) -> SlottedHost:
        return TinyCNN(self.info.num_outputs)

    def load(self, *, seed: int, data_dir: Path | None = None) -> TaskData:
        g = torch.Generator().manual_seed(seed)
        n = self.n_train + self.n_val
        y = torch.randint(0, self.info.num_outputs, (n,), generator=g)
        x = torch.randn(n, 3, 8, 8, generator=g) * 0.5
        for c in range(self.info.num_outputs):
            x[y == c, c % 3, c % 8, :] += 2.0
        return TaskData(
            train_x=x[: self.n_train],
            train_y=y[: self.n_train],
            val_x=x[self.n_train :],
            val_y=y[self.n_train :],
        )


class TinyLMTask(Task):
    def __init__(self, vocab: int = 11) -> None:
        self.info = TaskInfo(
            kind="language_model", topology="transformer", num_outputs=vocab, batch_size=16
        )

    def build_host(self, registries: Registries) -> SlottedHost:
        return TinySeq(self.info.num_outputs)

    def load(self, *, seed: int, data_dir: Path | None = None) -> TaskData:
        g = torch.Generator().manual_seed(seed)
        tokens = torch.randint(0, self.info.num_outputs, (96, 9), generator=g)
        tokens[:, 1::2] = (
            tokens[:, 0::2][:, : tokens[:, 1::2].shape[1]] + 1
        ) % self.info.num_outputs
        x, y = tokens[:, :-1], tokens[:, 1:]
        return TaskData(train_x=x[:64], train_y=y[:64], val_x=x[64:], val_y=y[64:])
