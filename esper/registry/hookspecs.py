"""The plugin contract: every hook esper calls, in one module.

A plugin is a module (named by an ``esper.plugins`` entry point, or given with ``--plugin``)
whose functions are decorated with `esper.plugin.hookimpl` and named after these specs.
Implementations may accept fewer arguments than a spec (pluggy's opt-in arguments), so new
arguments can be added here without breaking existing plugins.

Registration hooks take no arguments, return an iterable of records and must be cheap and
free of side effects: ``esper --help`` calls them, so a plugin's hook module must not import
torch (name factories as ``"pkg.module:attr"`` strings instead).

Every hook here has a section in docs/hooks.md and a ``test_hook_<name>`` test; a meta-test
enforces both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from esper.registry.context import RunContext
    from esper.registry.specs import (
        AgentSpec,
        BlueprintSpec,
        CommandSpec,
        GovernorSpec,
        HostSpec,
        PolicySpec,
        PresetSpec,
        RewardSpec,
        RunnerSpec,
        SinkSpec,
        TaskSpec,
    )
    from esper.telemetry.events import Event

PROJECT_NAME = "esper"

#: The entry-point group esper discovers plugins in.
ENTRY_POINT_GROUP = "esper.plugins"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate hook implementations with ``@hookimpl`` (plugins take it from `esper.plugin`).
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# -- registration hooks ------------------------------------------------------------------


@hookspec
def esper_blueprints() -> Iterable[BlueprintSpec]:
    """Register seed blueprints: modules that can grow into a host's slots.

    Yield one `esper.plugin.BlueprintSpec` per blueprint, with the ``topology`` of the hosts
    it fits (``"cnn"``, ``"transformer"`` or a topology your plugin defines).
    """
    return ()


@hookspec
def esper_hosts() -> Iterable[HostSpec]:
    """Register host networks that declare named injection points (slots)."""
    return ()


@hookspec
def esper_tasks() -> Iterable[TaskSpec]:
    """Register training tasks (data, host, loss and metrics)."""
    return ()


@hookspec
def esper_rewards() -> Iterable[RewardSpec]:
    """Register reward functions for training a growth controller."""
    return ()


@hookspec
def esper_policies() -> Iterable[PolicySpec]:
    """Register controllers (heuristic or learned) that decide when and what to grow."""
    return ()


@hookspec
def esper_agents() -> Iterable[AgentSpec]:
    """Register learning algorithms (e.g. PPO) that train a trainable policy."""
    return ()


@hookspec
def esper_governors() -> Iterable[GovernorSpec]:
    """Register governors: fail-safes that roll a host back when its training blows up."""
    return ()


@hookspec
def esper_runners() -> Iterable[RunnerSpec]:
    """Register runners that execute many host-training environments."""
    return ()


@hookspec
def esper_telemetry_sinks() -> Iterable[SinkSpec]:
    """Register telemetry sinks that receive every event of a run."""
    return ()


@hookspec
def esper_commands() -> Iterable[CommandSpec]:
    """Register extra ``esper`` subcommands.

    Yield `esper.plugin.CommandSpec` records whose factory is (or lazily names) a
    ``click.Command``. The command is imported only when it is invoked or its help is shown;
    if that import fails the command is listed as broken and the rest of the CLI still works.
    """
    return ()


@hookspec
def esper_presets() -> Iterable[PresetSpec]:
    """Register presets: named configurations (``esper presets list``, ``--preset NAME``).

    Yield `esper.plugin.PresetSpec` records whose factory takes no arguments and returns the
    raw config as a plain dict (what a TOML config file parses to). It is called only when the
    preset is used, so read files there, not in this hook.
    """
    return ()


# -- lifecycle hooks -----------------------------------------------------------------------


@hookspec(historic=True)
def esper_configure(config: object) -> None:
    """Called once with the resolved, validated run configuration (`esper.config.EsperConfig`).

    Historic: a plugin registered after the call still receives it.
    """


@hookspec
def esper_run_start(run: RunContext) -> None:
    """Called when a run starts, after its run directory exists and before the first epoch."""


@hookspec
def esper_run_end(run: RunContext, status: str) -> None:
    """Called when a run ends. ``status`` is ``"finished"``, ``"interrupted"`` or ``"crashed"``."""


@hookspec
def esper_telemetry_event(event: Event) -> None:
    """Called for every telemetry event, after the configured sinks received it.

    Use it to observe a run without being selected as a sink. Exceptions are caught,
    reported and counted like sink failures; they never stop the run.
    """
