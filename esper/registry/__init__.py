"""The plugin machinery: how components get into esper and are found again.

* `esper.registry.specs` — the records a registration hook yields (``BlueprintSpec``, ...);
* `esper.registry.hookspecs` — every hook esper calls, one documented function each;
* `esper.registry.manager` — discovers plugins through entry points and loads them;
* `esper.registry.registries` — per-kind registries with lazy factories (``Registries``);
* `esper.registry.context` — the `RunContext` lifecycle hooks receive.

Nothing here imports torch. Plugin authors import from `esper.plugin`, not from here.
"""

from esper.registry.registries import Entry, Registries, Registry, command_conflicts, registry_from

__all__ = ["Entry", "Registries", "Registry", "command_conflicts", "registry_from"]
