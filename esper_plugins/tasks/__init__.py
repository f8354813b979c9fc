"""``esper.tasks``: the built-in tasks.

Offline by default: ``image`` (and its weak-host variants) and ``stories`` generate their data
from the run seed; ``cifar10`` and ``text`` read real data from local files.

This module holds only hook implementations and must not import torch; factories and config
classes are named by "package.module:attr" strings and imported when a task is built.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import TaskSpec, hookimpl

_PKG = "esper_plugins.tasks"
_CONFIG = f"{_PKG}.config"

# name, topology, factory, config class, summary
_TASKS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "image",
        "cnn",
        f"{_PKG}.image:create_image",
        "ImageTaskConfig",
        "Embedded image classification: procedural 32x32 RGB patterns (12 classes by "
        "default), generated from the seed; CIFAR-baseline CNN host (base 8, 3x3).",
    ),
    (
        "image-impaired",
        "cnn",
        f"{_PKG}.image:create_image_impaired",
        "ImageTaskConfig",
        "The image task with a spatially blind host (1x1 kernels, base 4: 432 params with "
        "12 classes); seeds with 3x3 convolutions must rescue it.",
    ),
    (
        "image-minimal",
        "cnn",
        f"{_PKG}.image:create_image_minimal",
        "ImageTaskConfig",
        "The image task with the spec's minimal host (base 2, 1x1 kernels, no pooling: 182 "
        "params with 12 classes).",
    ),
    (
        "cifar10",
        "cnn",
        f"{_PKG}.cifar:create_cifar10",
        "CIFAR10TaskConfig",
        "CIFAR-10 from local files (torchvision, or the python batches without it); "
        "download = true needs esper-nn[vision].",
    ),
    (
        "stories",
        "transformer",
        f"{_PKG}.stories:create_stories",
        "StoriesTaskConfig",
        "Embedded language modelling: tiny stories from a small grammar, generated from the "
        "seed; word or character tokens; small CPU transformer host.",
    ),
    (
        "text",
        "transformer",
        f"{_PKG}.text:create_text",
        "TextTaskConfig",
        "Language modelling on a real corpus (TinyStories or any text): local text, json, "
        "parquet or arrow files, or a download; char, word or BPE tokens; set path.",
    ),
)


#: Tags: ``default`` is the task a run uses when its config names none; ``topology-default``
#: the task picked for its topology (``esper run --plugin esper.blueprints.transformer``).
_TAGS: dict[str, tuple[str, ...]] = {
    "image": ("default", "topology-default"),
    "stories": ("topology-default",),
}


@hookimpl
def esper_tasks() -> Iterator[TaskSpec]:
    for name, topology, factory, config_cls, summary in _TASKS:
        yield TaskSpec(
            name=name,
            topology=topology,
            factory=factory,
            config_cls=f"{_CONFIG}:{config_cls}",
            summary=summary,
            tags=_TAGS.get(name, ()),
        )
