"""Tiny CIFAR-10 files in the dataset's python format, for tests of the cifar10 task."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from esper_plugins.tasks.cifar import FOLDER

#: Images in each of the five training batches, and in the test batch.
PER_BATCH = 3
TEST_IMAGES = 4


def _image_row(label: int, index: int) -> Any:
    """One image as the 3072 bytes CIFAR stores: 1024 red, then 1024 green, then 1024 blue."""
    import numpy as np

    row = np.empty(3072, dtype=np.uint8)
    row[:1024] = 10 * label + index  # red
    row[1024:2048] = 100 + label  # green
    row[2048:] = np.arange(1024) % 256  # blue: a ramp along the rows
    return row


def _write_batch(path: Path, labels: list[int], offset: int, protocol: int) -> None:
    import numpy as np

    data = np.stack([_image_row(lab, offset + i) for i, lab in enumerate(labels)])
    batch = {
        b"batch_label": b"fake batch",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{offset + i}.png".encode() for i in range(len(labels))],
    }
    with path.open("wb") as f:
        pickle.dump(batch, f, protocol=protocol)


def make_fake_cifar(root: Path, *, protocol: int = 2) -> Path:
    """Five training batches of 3 images and a test batch of 4, in CIFAR's python format."""
    folder = root / FOLDER
    folder.mkdir(parents=True)
    for b in range(5):
        labels = [(3 * b + i) % 10 for i in range(PER_BATCH)]
        _write_batch(folder / f"data_batch_{b + 1}", labels, 3 * b, protocol)
    _write_batch(folder / "test_batch", [9, 8, 7, 6], 100, protocol)
    return folder
