"""The blueprints that can grow in one host: a registry view filtered by topology.

Controllers size their blueprint head from ``len(catalog)`` and map indices to names with
``catalog.names``, so a third-party blueprint for the same topology becomes a valid action
without any constant changing.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from esper.errors import RegistryError
from esper.registry import Entry, Registry
from esper.registry.specs import BlueprintSpec


class BlueprintCatalog:
    def __init__(self, registry: Registry[BlueprintSpec], topology: str) -> None:
        self.topology = topology
        self._entries: list[Entry[BlueprintSpec]] = registry.filter(
            lambda spec: spec.topology == topology
        )
        if not self._entries:
            raise RegistryError(f"no blueprints are registered for topology {topology!r}")
        self._registry = registry

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self._entries]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self._entries]

    def entry(self, name: str) -> Entry[BlueprintSpec]:
        return self._registry.get(name, where=lambda spec: spec.topology == self.topology)

    def index(self, name: str) -> int:
        return self.ids.index(self.entry(name).id)

    def build(self, name: str, dim: int, config: Any = None) -> nn.Module:
        module = self.entry(name).build(dim, config)
        if not isinstance(module, nn.Module):
            raise RegistryError(
                f"blueprint {name!r} built {type(module).__name__}, not an nn.Module"
            )
        return module
