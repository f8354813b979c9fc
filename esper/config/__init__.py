"""Configuration: the core schema and the TOML / ``--set`` loading pipeline."""

from esper.config.loading import apply_override, load_raw, resolve, structure, unstructure
from esper.config.schema import COMPONENT_KINDS, Component, EsperConfig, RunSection

__all__ = [
    "COMPONENT_KINDS",
    "Component",
    "EsperConfig",
    "RunSection",
    "apply_override",
    "load_raw",
    "resolve",
    "structure",
    "unstructure",
]
