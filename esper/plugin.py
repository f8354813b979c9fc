"""The public API for plugin authors.

Import everything a plugin needs from here (``from esper.plugin import hookimpl, SinkSpec``);
other esper modules are internal unless the docs say otherwise. Importing this module does
not import torch.
"""

from __future__ import annotations

from esper.bounds import MAX_EPOCHS, MAX_SEED, MAX_WIDTH, finite, is_finite_number
from esper.registry.context import RunContext
from esper.registry.hookspecs import ENTRY_POINT_GROUP, hookimpl
from esper.registry.specs import (
    AgentSpec,
    BlueprintSpec,
    CommandSpec,
    GovernorSpec,
    HostSpec,
    PolicySpec,
    RewardSpec,
    RunnerSpec,
    SinkSpec,
    Spec,
    TaskSpec,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_EPOCHS",
    "MAX_SEED",
    "MAX_WIDTH",
    "AgentSpec",
    "BlueprintSpec",
    "CommandSpec",
    "GovernorSpec",
    "HostSpec",
    "PolicySpec",
    "RewardSpec",
    "RunContext",
    "RunnerSpec",
    "SinkSpec",
    "Spec",
    "TaskSpec",
    "finite",
    "hookimpl",
    "is_finite_number",
]
