"""The public API for plugin authors.

Import everything a plugin needs from here (``from esper.plugin import hookimpl, SinkSpec``);
other esper modules are internal unless the docs say otherwise. Importing this module does
not import torch.
"""

from __future__ import annotations

import pluggy

from esper.bounds import MAX_EPOCHS, MAX_SEED, MAX_WIDTH, finite, is_finite_number
from esper.hookspecs import PROJECT_NAME
from esper.records import (
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
from esper.run_context import RunContext

#: Decorate hook implementations with ``@hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: The entry-point group esper discovers plugins in.
ENTRY_POINT_GROUP = "esper.plugins"

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
