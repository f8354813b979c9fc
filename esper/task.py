"""The task contract: what a task plugin gives the training engine.

A task knows its data, its host, its loss and its metrics. The number of classes (or the
vocabulary size) always comes from the task, never from a constant elsewhere.

Data is handed over as in-memory tensors (`TaskData`): the engine moves them to the device
once, draws batches with its own seeded generator (so the data order is part of a checkpoint)
and applies the task's on-device augmentation. A task plugin's factory is called as
``factory(config)`` and returns a `Task`.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import attrs
import torch

from esper.host import SlottedHost
from esper.registry import Registries

TaskKind = Literal["classification", "language_model"]


@attrs.frozen(kw_only=True)
class TaskInfo:
    """What the engine, the governor and the controllers need to know about a task."""

    kind: TaskKind
    topology: str
    #: Number of classes (classification) or vocabulary size (language model).
    num_outputs: int = attrs.field(validator=attrs.validators.ge(2))
    batch_size: int = attrs.field(default=128, validator=attrs.validators.ge(1))
    host_lr: float = 0.01
    seed_lr: float = 0.01

    @property
    def random_guess_loss(self) -> float:
        """Cross-entropy of a uniform guess, ln(num_outputs): the governor's collapse level."""
        return math.log(self.num_outputs)


#: ``augment(x, generator) -> x`` on the device, for one training batch.
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@attrs.frozen(kw_only=True)
class TaskData:
    """A task's data as tensors: inputs and integer targets for training and validation."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    augment: Augment | None = None

    def __attrs_post_init__(self) -> None:
        if (
            self.train_x.shape[0] != self.train_y.shape[0]
            or self.val_x.shape[0] != self.val_y.shape[0]
        ):
            raise ValueError("task data: inputs and targets must have the same number of samples")
        if self.train_y.dtype != torch.long or self.val_y.dtype != torch.long:
            raise ValueError("task data: targets must be int64 class or token indices")

    def to(self, device: torch.device) -> TaskData:
        return attrs.evolve(
            self,
            train_x=self.train_x.to(device),
            train_y=self.train_y.to(device),
            val_x=self.val_x.to(device),
            val_y=self.val_y.to(device),
        )


class Task(abc.ABC):
    """Base class of tasks. Subclasses set ``info`` and implement the two builders."""

    info: TaskInfo

    @abc.abstractmethod
    def build_host(self, registries: Registries) -> SlottedHost:
        """A fresh host for this task (built through the host registry, so any plugin's host works)."""

    @abc.abstractmethod
    def load(self, *, seed: int, data_dir: Path | None = None) -> TaskData:
        """The data, deterministic for a seed. Raise `esper.errors.EsperError` for missing files."""

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (over tokens for language models)."""
        return torch.nn.functional.cross_entropy(
            outputs.reshape(-1, outputs.shape[-1]).float(), targets.reshape(-1)
        )
