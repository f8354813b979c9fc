"""``esper.presets``: the named configurations esper ships (``esper presets list``).

Each preset is a TOML file next to this module (configuration as data, shipped in the
wheel), read only when the preset is used: the hook below reads nothing and imports no torch.
``esper run --preset NAME`` starts from one; ``--config`` files and ``--set`` overrides apply
over it (docs/config.md, "Presets").
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from esper.plugin import EsperError, PresetSpec, hookimpl

_HERE = Path(__file__).parent

# name, the command it is meant for, summary. Parameter counts are exact (the host as the
# preset builds it, with the task's class count); a test checks them.
PRESETS: tuple[tuple[str, str, str], ...] = (
    (
        "image",
        "run",
        "The embedded default: the heuristic on generated images, CNN host (6,484 params).",
    ),
    (
        "stories",
        "run",
        "The embedded language task: generated stories, transformer host (61,184 params).",
    ),
    ("cifar10", "run", "CIFAR-10, baseline host: base 8, 3x3, 3 pools (6,418 params)."),
    ("cifar10-impaired", "run", "CIFAR-10, impaired host: base 4, 1x1 kernels (398 params)."),
    ("cifar10-minimal", "run", "CIFAR-10, minimal host: base 2, 1x1, no pooling (164 params)."),
    ("cifar10-scaled", "run", "CIFAR-10, scaled host: base 8, 5 blocks, 5 pools (99,922 params)."),
    (
        "train-image",
        "train",
        "Learning a controller: imitate the heuristic, then PPO (about 15 min on 2 CPUs).",
    ),
    (
        "tinystories",
        "run",
        "TinyStories from a local copy (or download = true) on the text task, BPE 8192; the "
        "prior system's host: 384 wide, 6 heads, 6 layers, context 256 (13,891,584 params).",
    ),
)


def preset_path(name: str) -> Path:
    """The TOML file of the built-in preset ``name``."""
    return _HERE / f"{name}.toml"


def read_preset(name: str) -> dict[str, Any]:
    """The raw config of the built-in preset ``name``, read from its TOML file."""
    path = preset_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EsperError(f"preset {name!r}: cannot read {str(path)!r}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EsperError(f"preset {name!r}: {str(path)!r} is not valid TOML: {exc}") from None


@hookimpl
def esper_presets() -> Iterator[PresetSpec]:
    for name, command, summary in PRESETS:
        yield PresetSpec(
            name=name,
            factory=functools.partial(read_preset, name),
            command=command,
            summary=summary,
            path=str(preset_path(name)),
        )
