"""Configuration: the core schema and the TOML / ``--set`` loading pipeline."""

from esper.config.loading import apply_override, load_raw, resolve, structure, unstructure
from esper.config.schema import (
    COMPONENT_KINDS,
    Component,
    EsperConfig,
    RunSection,
    TrainSection,
)
from esper.engine.options import CompileSection

__all__ = [
    "COMPONENT_KINDS",
    "CompileSection",
    "Component",
    "EsperConfig",
    "RunSection",
    "TrainSection",
    "apply_override",
    "load_raw",
    "resolve",
    "structure",
    "unstructure",
]
