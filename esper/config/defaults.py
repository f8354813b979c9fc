"""The components a command uses when its config names none: the plugins tag them.

The core names no plugin. A plugin marks a component with a tag (`esper.registry.specs`):
``default`` for what a run uses, ``train-default`` for what ``esper train`` adds,
``topology-default`` for a task picked by its topology. When several plugins tag one kind
alike, the first loaded wins: esper's own plugins load first.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from esper.config.schema import COMPONENT_KINDS
from esper.registry import Registries
from esper.registry.specs import DEFAULT, TOPOLOGY_DEFAULT, TRAIN_DEFAULT


def default_id(registries: Registries, kind: str, tag: str = DEFAULT) -> str | None:
    """The id of the first loaded component of ``kind`` tagged ``tag`` (None: no such one)."""
    tagged = registries[kind].tagged(tag)
    return tagged[0].id if tagged else None


def default_sinks(registries: Registries) -> list[str]:
    """The telemetry sinks a run uses when its config has no ``[telemetry]`` table, by bare
    name where that is unambiguous (the key a resolved config shows), else by id."""
    sinks = registries["telemetry_sinks"]
    names = [entry.name for entry in sinks]
    return [
        entry.name if names.count(entry.name) == 1 else entry.id for entry in sinks.tagged(DEFAULT)
    ]


def add_train_defaults(raw: dict[str, Any], registries: Registries) -> None:
    """Name the ``train-default`` component in each table of ``raw`` that names none."""
    for key, kind in COMPONENT_KINDS.items():
        name = default_id(registries, kind, TRAIN_DEFAULT)
        if name is None:
            continue
        section = raw.get(key)
        if section is None:
            raw[key] = {"name": name}
        elif isinstance(section, dict) and "name" not in section:
            section["name"] = name


def add_topology_task(
    raw: dict[str, Any], registries: Registries, topologies: Collection[str]
) -> None:
    """With no task configured and one topology named (by ``--plugin``), use its
    ``topology-default`` task, keeping any task options the config gives."""
    if isinstance(raw.get("task"), dict) and "name" in raw["task"]:
        return
    if len(topologies) != 1:
        return
    (topology,) = topologies
    candidates = [
        e for e in registries["tasks"].tagged(TOPOLOGY_DEFAULT) if e.spec.topology == topology
    ]
    if candidates:
        given = raw.get("task")
        options: dict[str, Any] = given if isinstance(given, dict) else {}
        raw["task"] = {"name": candidates[0].id, **options}
