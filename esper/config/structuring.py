"""A raw config dict structured into a validated `EsperConfig`.

``[run]``, ``[train]``, ``[compile]`` and ``[lifecycle]`` are structured with the core schema;
each component table with the config class of the plugin component its ``name`` selects (or
the default component of its kind), and each telemetry sink likewise. Unknown keys are errors.
Every problem is collected, with its full key path, and all are raised at once, as one
`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from esper.config.converter import converter
from esper.config.defaults import default_id, default_sinks
from esper.config.problems import ROOT, problems_of
from esper.config.required import check_required_plugins
from esper.config.schema import (
    COMPONENT_KINDS,
    IMITATE_PREFIX,
    RUN_LIFECYCLE_DEFAULTS,
    Component,
    EsperConfig,
    RunSection,
    TrainSection,
)
from esper.engine.options import CompileSection
from esper.errors import ConfigError, RegistryError
from esper.lifecycle import GateConfig
from esper.registry import Registries

SectionT = TypeVar("SectionT")


def structure(
    raw: Mapping[str, Any], registries: Registries, *, source: str | None = None
) -> EsperConfig:
    """Validate a raw config dict against the core schema and the selected plugins' classes."""
    problems = _unknown_tables(raw)
    run = _structure_section(raw, "run", RunSection, problems)
    train = _structure_section(raw, "train", TrainSection, problems)
    compile_ = _structure_section(raw, "compile", CompileSection, problems)
    lifecycle = _structure_lifecycle(raw.get("lifecycle", {}), problems)
    components = _structure_components(raw, registries, problems)
    sinks = _structure_sinks(raw.get("telemetry"), registries, problems)
    problems.extend(_teacher_problems(train, registries))
    required = _required_plugins(raw.get("required_plugins", []), problems)
    problems.extend(check_required_plugins(required))

    if problems:
        raise ConfigError(problems, source=source)
    return EsperConfig(
        run=run,
        lifecycle=lifecycle,
        components=components,
        sinks=sinks,
        required_plugins=tuple(required),
        train=train,
        compile=compile_,
    )


def _teacher_problems(train: TrainSection | None, registries: Registries) -> list[str]:
    """``train.init``'s teacher must exist (checked before any run directory is made)."""
    if train is None or not train.init:
        return []
    name = train.init[len(IMITATE_PREFIX) :]
    if name.endswith(".pt") or Path(name).is_file():
        found = Path(name).is_file()
        return [] if found else [f"{ROOT}.train.init: {name}: no such policy checkpoint"]
    try:
        registries["policies"].get(name)
    except RegistryError as exc:
        return [f"{ROOT}.train.init: {exc}"]
    return []


def _unknown_tables(raw: Mapping[str, Any]) -> list[str]:
    """A problem for each top-level key that is no table of the schema or component kind."""
    known = {
        "run",
        "train",
        "compile",
        "lifecycle",
        "telemetry",
        "required_plugins",
        *COMPONENT_KINDS,
    }
    return [
        f"{ROOT}.{key}: unknown key (known: {', '.join(sorted(known))})"
        for key in raw
        if key not in known
    ]


def _structure_section(
    raw: Mapping[str, Any], key: str, cls: type[SectionT], problems: list[str]
) -> SectionT:
    """The core table ``key`` as ``cls``; its defaults (and problems) when it does not fit."""
    try:
        return converter.structure(raw.get(key, {}), cls)
    except Exception as exc:
        problems.extend(problems_of(exc, f"{ROOT}.{key}"))
        return cls()


def _structure_lifecycle(section: Any, problems: list[str]) -> GateConfig:
    """``[lifecycle]`` over the defaults of a run (which differ from `GateConfig`'s own)."""
    try:
        if isinstance(section, dict):
            section = {**RUN_LIFECYCLE_DEFAULTS, **section}
        return converter.structure(section, GateConfig)
    except Exception as exc:
        problems.extend(problems_of(exc, f"{ROOT}.lifecycle"))
        return GateConfig()


def _structure_components(
    raw: Mapping[str, Any], registries: Registries, problems: list[str]
) -> dict[str, Component]:
    """Every component table (task, policy, ...) that is given or has a default component."""
    components: dict[str, Component] = {}
    for key, kind in COMPONENT_KINDS.items():
        comp = _structure_component(
            raw.get(key), f"{ROOT}.{key}", registries, kind, default_id(registries, kind), problems
        )
        if comp is not None:
            components[key] = comp
    return components


def structure_component(
    section: dict[str, Any], path: str, registries: Registries, kind: str
) -> Component:
    """One ``{"name": ..., **options}`` table as a component of ``kind``; a `ConfigError`
    naming ``path`` when the name or an option is wrong."""
    problems: list[str] = []
    component = _structure_component(section, path, registries, kind, None, problems)
    if component is None or problems:
        raise ConfigError(problems or [f"{path}: not a {kind} component"])
    return component


def _structure_component(
    section: Any,
    path: str,
    registries: Registries,
    kind: str,
    default: str | None,
    problems: list[str],
) -> Component | None:
    if section is None:
        section = {} if default is not None else None
    if section is None:
        return None
    if not isinstance(section, dict):
        problems.append(f"{path}: must be a table, got {type(section).__name__}")
        return None
    options = dict(section)
    name = options.pop("name", default)
    if name is None:
        problems.append(
            f"{path}.name: missing; choose one of: {', '.join(registries[kind].ids()) or 'none installed'}"
        )
        return None
    if not isinstance(name, str):
        problems.append(f"{path}.name: must be a string, got {type(name).__name__}")
        return None
    try:
        entry = registries[kind].get(name)
    except RegistryError as exc:
        problems.append(f"{path}.name: {exc}")
        return None
    return _structure_options(
        entry.id, entry.plugin, entry.spec.load_config_cls(), options, path, problems
    )


def _structure_options(
    cid: str,
    plugin: str,
    config_cls: type | None,
    options: dict[str, Any],
    path: str,
    problems: list[str],
) -> Component | None:
    if config_cls is None:
        if options:
            problems.append(f"{path}: {cid} takes no options, got {', '.join(sorted(options))}")
            return None
        return Component(id=cid, plugin=plugin)
    try:
        structured: Any = converter.structure(options, config_cls)
    except Exception as exc:
        problems.extend(problems_of(exc, path))
        return None
    return Component(id=cid, plugin=plugin, options=structured)


def _structure_sinks(
    telemetry: Any, registries: Registries, problems: list[str]
) -> dict[str, Component]:
    path = f"{ROOT}.telemetry"
    if telemetry is None:
        telemetry = {"sinks": {name: {} for name in default_sinks(registries)}}
    if not isinstance(telemetry, dict):
        problems.append(f"{path}: must be a table")
        return {}
    extra = set(telemetry) - {"sinks"}
    if extra:
        problems.append(f"{path}: unknown key(s) {', '.join(sorted(extra))} (known: sinks)")
    sinks_raw = telemetry.get("sinks", {})
    if isinstance(sinks_raw, list):  # `sinks = ["jsonl", "console"]` selects sinks with defaults
        sinks_raw = {name: {} for name in sinks_raw if isinstance(name, str)}
    if not isinstance(sinks_raw, dict):
        problems.append(f"{path}.sinks: must be a table of sink names or a list of names")
        return {}
    sinks: dict[str, Component] = {}
    for name, options in sinks_raw.items():
        spath = f"{path}.sinks.{name}"
        if not isinstance(options, dict):
            problems.append(f"{spath}: must be a table of options")
            continue
        try:
            entry = registries["telemetry_sinks"].get(name)
        except RegistryError as exc:
            problems.append(f"{spath}: {exc}")
            continue
        comp = _structure_options(
            entry.id, entry.plugin, entry.spec.load_config_cls(), dict(options), spath, problems
        )
        if comp is not None:
            sinks[name] = comp
    return sinks


def _required_plugins(required: Any, problems: list[str]) -> list[str]:
    """``required_plugins`` as a list of strings (empty, with a problem, when it is not one)."""
    if not (isinstance(required, list) and all(isinstance(r, str) for r in required)):
        problems.append(f"{ROOT}.required_plugins: must be a list of strings")
        return []
    return required
