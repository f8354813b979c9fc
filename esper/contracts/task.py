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
from typing import TYPE_CHECKING, Literal

import attrs
import torch

from esper.errors import TaskDataError

if TYPE_CHECKING:
    from esper.growth.host import SlottedHost
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
    """A task's data as tensors: inputs and integer targets for training and validation.

    Nothing is checked when the record is built; `check_task_data` checks it against the
    task once, at load (`load_task_data`), and names the task in what it reports.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    augment: Augment | None = None

    def to(
        self, device: torch.device, *, memory_format: torch.memory_format | None = None
    ) -> TaskData:
        """On ``device``; inputs also in ``memory_format`` when given (the host's: batches
        indexed out of them keep it, so nothing is converted per batch)."""

        def move(x: torch.Tensor) -> torch.Tensor:
            x = x.to(device)
            if memory_format is not None and memory_format is not torch.contiguous_format:
                x = x.contiguous(memory_format=memory_format)
            return x

        return attrs.evolve(
            self,
            train_x=move(self.train_x),
            train_y=self.train_y.to(device),
            val_x=move(self.val_x),
            val_y=self.val_y.to(device),
        )


#: Samples checked per step when scanning inputs, so a large dataset needs no second copy.
_CHECK_CHUNK = 4096


def _first_bad_sample(bad: torch.Tensor) -> int | None:
    """Index of the first sample (dim 0) where the boolean ``bad`` is True anywhere."""
    rows = bad.reshape(bad.shape[0], -1).any(dim=1).nonzero()
    return int(rows[0, 0]) if rows.numel() else None


def check_task_data(data: TaskData, info: TaskInfo, *, task: str) -> None:
    """Raise `TaskDataError` naming ``task`` and the first bad sample if the data cannot be
    trained on: targets must be int64 in ``[0, num_outputs)``, float inputs finite, token
    inputs of a language model in ``[0, num_outputs)``, and each split's inputs and targets
    equally long and non-empty.

    Without this, a label equal to ``num_outputs`` fails mid-epoch with an IndexError (on
    CUDA, a device-side assert that kills the process) and a NaN input poisons the host.
    """
    n = info.num_outputs
    for split in ("train", "val"):
        x: torch.Tensor = getattr(data, f"{split}_x")
        y: torch.Tensor = getattr(data, f"{split}_y")
        where = f"task {task!r}: {split}"
        if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0]:
            raise TaskDataError(
                f"{where}_x has {x.shape[0] if x.dim() else 'no'} samples but {split}_y has "
                f"{y.shape[0] if y.dim() else 'no'}: inputs and targets must be equally long"
            )
        if x.shape[0] == 0:
            raise TaskDataError(f"{where} split is empty")
        if y.dtype != torch.long:
            raise TaskDataError(
                f"{where}_y has dtype {y.dtype}: targets must be int64 class or token indices"
            )
        for start in range(0, x.shape[0], _CHECK_CHUNK):
            xs = x[start : start + _CHECK_CHUNK]
            ys = y[start : start + _CHECK_CHUNK]
            bad = _first_bad_sample((ys < 0) | (ys >= n))
            if bad is not None:
                i = start + bad
                found = ys[bad].reshape(-1)
                value = int(found[((found < 0) | (found >= n)).nonzero()[0, 0]])
                raise TaskDataError(
                    f"{where}_y[{i}] holds target {value}, outside [0, {n}) "
                    f"(num_outputs = {n}): the first bad sample is {i}"
                )
            if xs.is_floating_point() or xs.is_complex():
                bad = _first_bad_sample(~torch.isfinite(xs))
                if bad is not None:
                    i = start + bad
                    raise TaskDataError(
                        f"{where}_x[{i}] holds NaN or inf: inputs must be finite "
                        f"(the first bad sample is {i})"
                    )
            elif info.kind == "language_model":
                bad = _first_bad_sample((xs < 0) | (xs >= n))
                if bad is not None:
                    i = start + bad
                    raise TaskDataError(
                        f"{where}_x[{i}] holds a token id outside the vocabulary [0, {n}) "
                        f"(the first bad sample is {i})"
                    )


def load_task_data(
    task: Task, *, seed: int, data_dir: Path | None = None, name: str | None = None
) -> TaskData:
    """``task.load(...)`` checked with `check_task_data`: the one way the engine loads data.

    ``name`` (the task's component id) names the task in errors; default: its class name.
    """
    data = task.load(seed=seed, data_dir=data_dir)
    check_task_data(data, task.info, task=name or type(task).__name__)
    return data


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
