"""Presets: named configurations that plugins ship, the lowest layer of a run's config.

``--preset NAME`` looks the name up in the ``presets`` registry (the bare name or a full id,
with close-match suggestions when it is unknown) and calls the record's factory for its raw
config; ``--config`` files and ``--set`` overrides are then merged over it, and the result is
validated like any other config. Nothing here imports torch: ``esper presets`` lists and
shows presets at the cost of ``esper --help``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from esper.errors import PluginError
from esper.registry import Entry, Registries
from esper.registry.specs import PresetSpec

log = structlog.get_logger(__name__)


def preset_entry(registries: Registries, name: str) -> Entry[PresetSpec]:
    """The preset ``name`` (bare name or id); unknown names raise a `RegistryError`."""
    entry: Entry[PresetSpec] = registries[PresetSpec.kind].get(name)
    return entry


def preset_raw(entry: Entry[PresetSpec]) -> dict[str, Any]:
    """The raw config the preset's factory returns, checked to be a table of tables."""
    raw = entry.spec.load_factory()()
    if not isinstance(raw, dict) or not all(isinstance(key, str) for key in raw):
        raise PluginError(
            f"preset {entry.id!r}: its factory must return a dict of config tables, "
            f"got {type(raw).__name__}"
        )
    return raw


def load_preset(
    registries: Registries, name: str | None, *, command: str | None = None
) -> dict[str, Any] | None:
    """The raw config of preset ``name`` (None when no preset is named).

    ``command`` is the command about to use it. ``run`` and ``eval`` grow hosts from the same
    tables, so their presets serve both; a preset meant for ``train`` used elsewhere (or the
    other way round) still applies, with a warning, since that is rarely what was meant.
    """
    if name is None:
        return None
    entry = preset_entry(registries, name)
    if command is not None and (entry.spec.command == "train") != (command == "train"):
        log.warning(
            "preset meant for another command",
            preset=entry.id,
            meant_for=f"esper {entry.spec.command}",
            command=f"esper {command}",
        )
    return preset_raw(entry)


def config_source(files: Sequence[str | Path] = (), preset: str | None = None) -> str | None:
    """Where a config came from, for its errors: the preset first, then the files in order."""
    parts = [f"preset {preset!r}"] if preset is not None else []
    parts += [str(file) for file in files]
    return ", ".join(parts) or None
