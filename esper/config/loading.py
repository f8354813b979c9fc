"""From TOML files and ``--set`` overrides to a validated `EsperConfig`: the whole pipeline.

0. A preset (``--preset NAME``), when one is named, gives the raw dict to start from.
1. Each ``--config`` file is parsed and merged into the raw dict (later files win).
2. Each ``--set a.b=value`` is applied to the raw dict; ``value`` is read as a TOML literal
   (``3``, ``1e-3``, ``true``, ``["a", "b"]``) and falls back to a plain string.
3. The raw dict is structured: ``[run]`` with the core schema, each component table with the
   config class of the plugin component its ``name`` selects. Unknown keys are errors.

Every problem is reported with its full key path (``config.policy.lr: must be > 0``) and all
problems are reported at once, as one `ConfigError`.

The stages live in their own modules: `esper.config.presets` (step 0), `esper.config.raw`
(steps 1 and 2), `esper.config.structuring` (step 3, with `esper.config.converter`,
`esper.config.problems` and `esper.config.required`) and `esper.config.unstructuring` (back
to plain data). Their public names are importable from here too, where callers have always
found them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from esper.config.converter import converter
from esper.config.presets import config_source, load_preset
from esper.config.problems import ROOT
from esper.config.raw import apply_override, load_raw, load_toml, merge, parse_value
from esper.config.required import check_required_plugins
from esper.config.schema import EsperConfig
from esper.config.structuring import structure
from esper.config.unstructuring import unstructure
from esper.registry import Registries

__all__ = [
    "ROOT",
    "apply_override",
    "check_required_plugins",
    "config_source",
    "converter",
    "load_preset",
    "load_raw",
    "load_toml",
    "merge",
    "parse_value",
    "resolve",
    "structure",
    "unstructure",
]


def resolve(
    registries: Registries,
    files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    *,
    preset: str | None = None,
) -> EsperConfig:
    """Start from the preset, merge the files, apply overrides and validate: the whole
    pipeline."""
    raw = load_raw(files, overrides, base=load_preset(registries, preset))
    return structure(raw, registries, source=config_source(files, preset))
