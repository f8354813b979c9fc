"""Typed registries of plugin components.

Every component has a namespaced id ``<plugin>:<name>`` (``esper.blueprints.cnn:conv_heavy``).
A lookup accepts the full id, or the bare name when exactly one candidate has it; a filter
narrows the candidates first (e.g. blueprints of one topology, so ``noop`` is unique among
CNN blueprints although the transformer family has one too). Registering the same id twice is
an error that lists every conflict; nothing is ever silently overwritten. Factories are imported
only when a component is built.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import attrs

from esper.errors import RegistryError
from esper.registry.manager import EsperPluginManager, Registration
from esper.registry.specs import KIND_LABELS, SPEC_BY_KIND, CommandSpec, Spec

S = TypeVar("S", bound=Spec)


@attrs.frozen
class Entry(Generic[S]):
    """A registered component: its id, the plugin it came from, and its record."""

    id: str
    plugin: str
    spec: S

    @property
    def name(self) -> str:
        return self.spec.name

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Import the factory (if lazy) and call it."""
        return self.spec.load_factory()(*args, **kwargs)


class Registry(Generic[S]):
    """The components of one kind, keyed by namespaced id."""

    def __init__(self, kind: str, entries: list[Entry[S]]) -> None:
        self.kind = kind
        self.label = KIND_LABELS.get(kind, kind)
        self._entries: dict[str, Entry[S]] = {}
        #: In load order (esper's own plugins first): `tagged` answers in this order.
        self._loaded: list[Entry[S]] = []
        conflicts: dict[str, list[str]] = {}
        for entry in entries:
            if entry.id in self._entries:
                conflicts.setdefault(entry.id, [self._entries[entry.id].plugin]).append(
                    entry.plugin
                )
            else:
                self._entries[entry.id] = entry
                self._loaded.append(entry)
        if conflicts:
            lines = [
                f"{cid} registered by {', '.join(plugins)}"
                for cid, plugins in sorted(conflicts.items())
            ]
            raise RegistryError(f"conflicting {kind} ids:\n  " + "\n  ".join(lines))

    def __iter__(self) -> Iterator[Entry[S]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.id))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._entries

    def ids(self) -> list[str]:
        return sorted(self._entries)

    def filter(self, where: Callable[[S], bool]) -> list[Entry[S]]:
        return [e for e in self if where(e.spec)]

    def tagged(self, tag: str) -> list[Entry[S]]:
        """The entries carrying ``tag``, in the order their plugins were loaded."""
        return [e for e in self._loaded if tag in e.spec.tags]

    def get(self, key: str, *, where: Callable[[S], bool] | None = None) -> Entry[S]:
        """Look up by id, or by bare name when it is unique among the candidates."""
        candidates = self.filter(where) if where is not None else list(self)
        for entry in candidates:
            if entry.id == key:
                return entry
        named = [e for e in candidates if e.name == key]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            ids = ", ".join(e.id for e in named)
            raise RegistryError(f"{self.label} name {key!r} is ambiguous; use one of: {ids}")
        choices = sorted({e.name for e in candidates} | {e.id for e in candidates})
        close = difflib.get_close_matches(key, choices, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        available = ", ".join(sorted(e.id for e in candidates)) or "none"
        raise RegistryError(f"unknown {self.label} {key!r}.{hint} Available: {available}")


def registry_from(registrations: list[Registration], kind: str) -> Registry[Any]:
    """Build the registry of one kind from a manager's registrations."""
    if kind not in SPEC_BY_KIND:
        raise RegistryError(f"unknown component kind {kind!r}; known: {', '.join(SPEC_BY_KIND)}")
    entries = [Entry(r.id, r.plugin, r.spec) for r in registrations if r.spec.kind == kind]
    return Registry(kind, entries)


def command_conflicts(manager: EsperPluginManager, core_commands: set[str]) -> list[str]:
    """Subcommand names claimed twice, or claimed by a plugin although core owns them."""
    owners: dict[str, list[str]] = {name: ["esper (core)"] for name in core_commands}
    for reg in manager.records(CommandSpec.kind):
        owners.setdefault(reg.spec.name, []).append(reg.plugin)
    return [
        f"command {name!r} claimed by {', '.join(who)}"
        for name, who in sorted(owners.items())
        if len(who) > 1
    ]


class Registries:
    """Lazily built registries of every kind for one plugin manager."""

    def __init__(self, manager: EsperPluginManager) -> None:
        self.manager = manager
        self._cache: dict[str, Registry[Any]] = {}

    def __getitem__(self, kind: str) -> Registry[Any]:
        if kind not in self._cache:
            self._cache[kind] = registry_from(self.manager.registrations, kind)
        return self._cache[kind]

    def conflicts(self) -> list[str]:
        """Every id conflict across all kinds (empty when healthy)."""
        problems: list[str] = []
        for kind in SPEC_BY_KIND:
            try:
                registry_from(self.manager.registrations, kind)
            except RegistryError as exc:
                problems.append(str(exc))
        return problems
