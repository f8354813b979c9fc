"""From TOML files and ``--set`` overrides to a validated `EsperConfig`.

1. Each ``--config`` file is parsed and merged into one raw dict (later files win).
2. Each ``--set a.b=value`` is applied to the raw dict; ``value`` is read as a TOML literal
   (``3``, ``1e-3``, ``true``, ``["a", "b"]``) and falls back to a plain string.
3. The raw dict is structured: ``[run]`` with the core schema, each component table with the
   config class of the plugin component its ``name`` selects. Unknown keys are errors.

Every problem is reported with its full key path (``config.policy.lr: must be > 0``) and all
problems are reported at once, as one `ConfigError`.
"""

from __future__ import annotations

import copy
import importlib.metadata as md
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cattrs
from cattrs.v import format_exception
from packaging.requirements import InvalidRequirement, Requirement

from esper.config.defaults import default_id, default_sinks
from esper.config.schema import (
    COMPONENT_KINDS,
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

ROOT = "config"
_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")

converter = cattrs.Converter(forbid_extra_keys=True)


_FIELD_MARK = "\x00"


def _format(exc: BaseException, type_: type | None) -> str:
    # attrs validators raise ValueError("'field' must be ...", ...): keep that message, which
    # says what is allowed (cattrs' default would only say "invalid value"), and move the
    # field name into the key path.
    if isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], str):
        match = re.match(r"^'(\w+)' (.+)$", exc.args[0], flags=re.S)
        if match:
            return f"{_FIELD_MARK}{match.group(1)}{_FIELD_MARK}{match.group(2)}"
        # Other validators name their field elsewhere ("Length of 'x' ...", "Cls.x must ...").
        field = _field_named(exc.args[0])
        if field is not None:
            return f"{_FIELD_MARK}{field}{_FIELD_MARK}{exc.args[0]}"
    if isinstance(exc, _StrictTypeError):
        return str(exc)
    return format_exception(exc, type_)


_FIELD_PATTERNS = (
    re.compile(r"^Length of '(\w+)' "),  # attrs' min_len / max_len
    re.compile(r"^[A-Z]\w*\.(\w+) must "),  # "GateConfig.min_training_epochs must ..."
    # "kernel_size must be odd ...", "min_samples (30) must be <= history_window (20)"
    re.compile(r"^([a-z_][a-z0-9_]*)(?: \([^)]*\))? must "),
)


def _field_named(message: str) -> str | None:
    """The field a validator's message names, when it says so in one of the usual ways."""
    for pattern in _FIELD_PATTERNS:
        match = pattern.match(message)
        if match:
            return match.group(1)
    return None


def _problems(exc: Exception, path: str) -> list[str]:
    if isinstance(exc, cattrs.BaseValidationError):
        out = []
        for line in cattrs.transform_error(exc, path=path, format_exception=_format):
            # cattrs writes "message @ path"; lead with the path, one line per unknown key.
            message, sep, where = line.rpartition(" @ ")
            extra = re.match(r"^extra fields found \((.*)\)$", message)
            field = re.match(f"^{_FIELD_MARK}(\\w+){_FIELD_MARK}(.*)$", message)
            if sep and field:
                out.append(f"{where}.{field.group(1)}: {field.group(2)}")
            elif sep and extra:
                out.extend(f"{where}.{key}: unknown key" for key in extra.group(1).split(", "))
            else:
                out.append(f"{where}: {message}" if sep else line)
        return out
    return [f"{path}: {exc}"]


class _StrictTypeError(TypeError):
    pass


def _strict(expected: type, accept: tuple[type, ...]) -> Any:
    # cattrs would run int("7") or int(3.9); a config value of the wrong type is an error.
    def hook(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) and expected is not bool:
            raise _StrictTypeError(f"expected {expected.__name__}, got a boolean ({value!r})")
        if not isinstance(value, accept):
            raise _StrictTypeError(
                f"expected {expected.__name__}, got {type(value).__name__} ({value!r})"
            )
        return expected(value)

    return hook


converter.register_structure_hook(int, _strict(int, (int,)))
converter.register_structure_hook(float, _strict(float, (int, float)))
converter.register_structure_hook(str, _strict(str, (str,)))
converter.register_structure_hook(bool, _strict(bool, (bool,)))

_structure_tuple = converter.get_structure_hook(tuple[str, ...])


def _string_tuple(value: Any, type_: Any) -> Any:
    # A string (or a table) is iterable too: `slots = "r0c0"` would become ("r", "0", ...).
    if not isinstance(value, list | tuple):
        raise _StrictTypeError(
            f"expected a list of strings, got {type(value).__name__} ({value!r})"
        )
    return _structure_tuple(value, type_)


converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _string_tuple)


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {str(path)!r} does not exist"]) from None
    except OSError as exc:
        raise ConfigError([f"cannot read config file {str(path)!r}: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"config file {str(path)!r} is not UTF-8 text"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not valid TOML: nested too deeply"]) from None


def parse_value(text: str) -> Any:
    """Read an override value as a TOML literal, or keep it as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return text


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` override to the raw config dict in place."""
    key, sep, value = assignment.partition("=")
    key = key.strip()
    if not sep or not _KEY_RE.match(key):
        raise ConfigError(
            [f"--set {assignment!r}: expected KEY=VALUE with a dotted key such as run.seed=7"]
        )
    *parents, leaf = key.split(".")
    node = raw
    walked = [ROOT]
    for part in parents:
        walked.append(part)
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError([f"{'.'.join(walked)}: is a value, not a table; cannot set {key!r}"])
        node = child
    node[leaf] = parse_value(value.strip())


def merge(base: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_raw(files: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for file in files:
        merge(raw, load_toml(file))
    for assignment in overrides:
        apply_override(raw, assignment)
    return raw


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
        problems.extend(_problems(exc, path))
        return None
    return Component(id=cid, plugin=plugin, options=structured)


def structure(
    raw: Mapping[str, Any], registries: Registries, *, source: str | None = None
) -> EsperConfig:
    """Validate a raw config dict against the core schema and the selected plugins' classes."""
    problems: list[str] = []
    known = {
        "run",
        "train",
        "compile",
        "lifecycle",
        "telemetry",
        "required_plugins",
        *COMPONENT_KINDS,
    }
    for key in raw:
        if key not in known:
            problems.append(f"{ROOT}.{key}: unknown key (known: {', '.join(sorted(known))})")

    run = RunSection()
    try:
        run = converter.structure(raw.get("run", {}), RunSection)
    except Exception as exc:
        problems.extend(_problems(exc, f"{ROOT}.run"))

    train = TrainSection()
    try:
        train = converter.structure(raw.get("train", {}), TrainSection)
    except Exception as exc:
        problems.extend(_problems(exc, f"{ROOT}.train"))

    compile_ = CompileSection()
    try:
        compile_ = converter.structure(raw.get("compile", {}), CompileSection)
    except Exception as exc:
        problems.extend(_problems(exc, f"{ROOT}.compile"))

    lifecycle = GateConfig()
    try:
        lifecycle_raw = raw.get("lifecycle", {})
        if isinstance(lifecycle_raw, dict):
            lifecycle_raw = {**RUN_LIFECYCLE_DEFAULTS, **lifecycle_raw}
        lifecycle = converter.structure(lifecycle_raw, GateConfig)
    except Exception as exc:
        problems.extend(_problems(exc, f"{ROOT}.lifecycle"))

    components: dict[str, Component] = {}
    for key, kind in COMPONENT_KINDS.items():
        comp = _structure_component(
            raw.get(key), f"{ROOT}.{key}", registries, kind, default_id(registries, kind), problems
        )
        if comp is not None:
            components[key] = comp

    sinks = _structure_sinks(raw.get("telemetry"), registries, problems)

    required = raw.get("required_plugins", [])
    if not (isinstance(required, list) and all(isinstance(r, str) for r in required)):
        problems.append(f"{ROOT}.required_plugins: must be a list of strings")
        required = []

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


def check_required_plugins(required: Sequence[str]) -> list[str]:
    """Problems with ``required_plugins = ["esper-foo>=1.2"]``: missing or wrong-version distributions."""
    problems: list[str] = []
    for i, text in enumerate(required):
        where = f"{ROOT}.required_plugins[{i}]"
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"{where}: not a requirement: {exc}")
            continue
        try:
            installed = md.version(req.name)
        except md.PackageNotFoundError:
            problems.append(f"{where}: {req.name} is not installed (pip install {text!r})")
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            problems.append(f"{where}: {req.name} {installed} is installed, {text!r} is required")
    return problems


def resolve(
    registries: Registries, files: Sequence[str | Path] = (), overrides: Sequence[str] = ()
) -> EsperConfig:
    """Load files, apply overrides and validate: the whole pipeline."""
    source = ", ".join(str(f) for f in files) or None
    return structure(load_raw(files, overrides), registries, source=source)


def _drop_none(value: Any) -> Any:
    # TOML has no null: an option left at None is written by leaving it out.
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value


def unstructure(config: EsperConfig) -> dict[str, Any]:
    """The resolved config as plain data (for ``esper config show`` and the run directory)."""
    return _drop_none(_unstructure(config))  # type: ignore[no-any-return]


def _unstructure(config: EsperConfig) -> dict[str, Any]:
    data: dict[str, Any] = {
        "run": converter.unstructure(config.run),
        "train": converter.unstructure(config.train),
        "compile": converter.unstructure(config.compile),
        "lifecycle": converter.unstructure(config.lifecycle),
    }
    for key, comp in config.components.items():
        section: dict[str, Any] = {"name": comp.id}
        if comp.options is not None:
            section.update(converter.unstructure(comp.options))
        data[key] = section
    data["telemetry"] = {
        "sinks": {
            name: (converter.unstructure(comp.options) if comp.options is not None else {})
            for name, comp in config.sinks.items()
        }
    }
    if config.required_plugins:
        data["required_plugins"] = list(config.required_plugins)
    return data
