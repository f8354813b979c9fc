"""A resolved `EsperConfig` back to plain data, as TOML can hold it (for ``esper config show``
and the ``config.toml`` of a run directory)."""

from __future__ import annotations

from typing import Any

from esper.config.converter import converter
from esper.config.schema import EsperConfig


def _drop_none(value: Any) -> Any:
    # TOML has no null: an option left at None is written by leaving it out.
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


def unstructure(config: EsperConfig) -> dict[str, Any]:
    """The resolved config as plain data (for ``esper config show`` and the run directory)."""
    return _drop_none(_unstructure(config))  # type: ignore[no-any-return]


def _unstructure(config: EsperConfig) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run": converter.unstructure(config.run),
        "train": converter.unstructure(config.train),
        "compile": converter.unstructure(config.compile),
        "lifecycle": converter.unstructure(config.lifecycle),
    }
    for key, comp in config.components.items():
        section: dict[str, Any] = {"name": comp.id}
        if comp.options is not None:
            section.update(converter.unstructure(comp.options))
        data[key] = section
    data["telemetry"] = {
        "sinks": {
            name: (converter.unstructure(comp.options) if comp.options is not None else {})
            for name, comp in config.sinks.items()
        }
    }
    if config.required_plugins:
        data["required_plugins"] = list(config.required_plugins)
    return data
