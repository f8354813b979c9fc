"""The ``cifar10`` task: CIFAR-10 through torchvision, or straight from the python batches.

torchvision is optional (``pip install 'esper-nn[vision]'``) and imported only here, when the
data is loaded. Without it, the standard python version of the dataset
(``<root>/cifar-10-batches-py/data_batch_1..5`` and ``test_batch``, as torchvision and the
dataset's site ship it) is read directly; downloading needs torchvision.

The batches are pickles. They are read with an unpickler that only admits what numpy
arrays need, so a tampered file cannot run code (the same stance as
``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from esper.plugin import EsperError, Registries, SlottedHost, Task, TaskData, TaskInfo
from esper_plugins.tasks.common import build_host, crop_flip
from esper_plugins.tasks.config import CIFAR10TaskConfig
from esper_plugins.tasks.image import HOST_PRESETS

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
NUM_CLASSES = 10
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
DEFAULT_ROOT = Path("data")
PIP_HINT = "pip install 'esper-nn[vision]'"

# (module, name) pairs a pickled numpy array needs, for every pickle protocol and numpy 1/2.
_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Admits numpy arrays, dicts, lists, bytes and numbers; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core."):
            # numpy 2 renamed numpy.core to numpy._core (the old name warns on import).
            try:
                return getattr(importlib.import_module("numpy._core" + module[10:]), name)
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def _load_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One python batch file -> (uint8 [n, 3, 32, 32], int64 [n])."""
    try:
        import numpy as np
    except ImportError:
        raise EsperError(
            f"reading the CIFAR-10 batches needs numpy ({PIP_HINT} installs it)"
        ) from None
    try:
        raw = path.read_bytes()
        # The batches were written by Python 2: bytes keys and byte-string array data.
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except OSError as exc:
        raise EsperError(f"cannot read CIFAR-10 file {str(path)!r}: {exc.strerror}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise EsperError(f"{str(path)!r} is not a CIFAR-10 python batch: {exc}") from None
    if not isinstance(batch, dict):
        raise EsperError(f"{str(path)!r} is not a CIFAR-10 python batch (not a dict)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise EsperError(f"{str(path)!r} is not a CIFAR-10 python batch (no data or labels)")
    array = np.asarray(data, dtype=np.uint8)
    if array.ndim != 2 or array.shape[1] != 3 * 32 * 32 or array.shape[0] != len(labels):
        raise EsperError(
            f"{str(path)!r}: expected data of shape [n, 3072] and n labels, got "
            f"{tuple(array.shape)} and {len(labels)} labels"
        )
    images = torch.from_numpy(array.copy()).view(-1, 3, 32, 32)
    targets = torch.as_tensor(list(labels), dtype=torch.long)
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= NUM_CLASSES):
        raise EsperError(f"{str(path)!r}: labels must lie in 0..{NUM_CLASSES - 1}")
    return images, targets


def read_python_batches(
    root: Path,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(train, test) images and labels from ``<root>/cifar-10-batches-py``."""
    folder = root / FOLDER
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if not (folder / n).is_file()]
    if missing:
        raise EsperError(
            f"CIFAR-10 not found: {str(folder)!r} lacks {', '.join(missing)}. Put the python "
            "version of CIFAR-10 there (cifar-10-python.tar.gz, extracted), point [task] root "
            f"or the run's data directory at its parent, or set download = true ({PIP_HINT})"
        )
    parts = [_load_batch(folder / n) for n in TRAIN_BATCHES]
    train = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    return train, _load_batch(folder / TEST_BATCH)


def import_torchvision() -> ModuleType | None:
    """torchvision, or None when it is not installed."""
    try:
        return importlib.import_module("torchvision")
    except ImportError:
        return None


def read_torchvision(
    tv: ModuleType, root: Path, *, download: bool
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    out = []
    for train in (True, False):
        try:
            ds = tv.datasets.CIFAR10(str(root), train=train, download=download)
        except RuntimeError as exc:
            # torchvision: "Dataset not found or corrupted. You can use download=True ..."
            raise EsperError(
                f"CIFAR-10 not found or corrupted in {str(root / FOLDER)!r} ({exc}); set "
                "download = true in [task] to fetch it"
            ) from None
        images = torch.as_tensor(ds.data).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
        out.append((images, torch.as_tensor(ds.targets, dtype=torch.long)))
    return out[0], out[1]


def normalize(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255.0 - mean) / std


def _check_download_root(root: Path, key: str) -> None:
    """A download writes files: a relative root may not climb out of the working directory."""
    if not root.is_absolute() and ".." in Path(os.path.normpath(root)).parts:
        raise EsperError(
            f"{key}: download = true writes the dataset there, and the relative path "
            f"{str(root)!r} climbs out of the working directory; name an absolute path"
        )


class CIFAR10Task(Task):
    """CIFAR-10 classification with the spec's baseline host (base 8, 3 blocks, 6.4K params)."""

    def __init__(self, config: CIFAR10TaskConfig | None = None) -> None:
        self.config = config or CIFAR10TaskConfig()
        self.info = TaskInfo(
            kind="classification",
            topology="cnn",
            num_outputs=NUM_CLASSES,
            batch_size=self.config.batch_size,
            host_lr=self.config.host_lr,
            seed_lr=self.config.seed_lr,
        )

    def root(self, data_dir: Path | str | None) -> Path:
        """``[task] root``, else the run's data directory, else ``./data``."""
        if self.config.root is not None:
            return Path(self.config.root)
        return Path(data_dir) if data_dir is not None else DEFAULT_ROOT

    def build_host(self, registries: Registries) -> SlottedHost:
        return build_host(
            registries,
            task="cifar10",
            topology="cnn",
            host_name=self.config.host_name,
            preset=HOST_PRESETS["image"],
            overrides=self.config.host,
            pinned={"in_channels": 3},
            probe=torch.zeros(1, 3, 32, 32),  # CIFAR-10 images are 32x32 RGB
            num_classes=NUM_CLASSES,
        )

    def load(self, *, seed: int, data_dir: Path | str | None = None) -> TaskData:
        """The dataset (the first ``train_size`` / ``val_size`` images; ``seed`` is not used)."""
        cfg = self.config
        root = self.root(data_dir)
        if cfg.download:
            _check_download_root(root, "config.task.root" if cfg.root else "config.run.data_dir")
        tv = import_torchvision()
        if tv is not None:
            train, test = read_torchvision(tv, root, download=cfg.download)
        else:
            folder = root / FOLDER
            if cfg.download and not all((folder / n).is_file() for n in TRAIN_BATCHES):
                raise EsperError(
                    f"download = true needs torchvision, which is not installed: {PIP_HINT} "
                    f"(or extract cifar-10-python.tar.gz into {str(root)!r} yourself)"
                )
            train, test = read_python_batches(root)
        train_x, train_y = train[0][: cfg.train_size], train[1][: cfg.train_size]
        val_x, val_y = test[0][: cfg.val_size], test[1][: cfg.val_size]
        return TaskData(
            train_x=normalize(train_x),
            train_y=train_y,
            val_x=normalize(val_x),
            val_y=val_y,
            augment=crop_flip if cfg.augment else None,
        )


def create_cifar10(config: CIFAR10TaskConfig | None = None) -> CIFAR10Task:
    return CIFAR10Task(config)
