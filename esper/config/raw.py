"""The raw config: a preset's dict, TOML files merged over it (later files win), then
``--set`` overrides.

An override's value is read as a TOML literal (``3``, ``1e-3``, ``true``, ``["a", "b"]``) and
falls back to a plain string. Nothing here knows the schema; `esper.config.structuring` checks
the result.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from esper.config.problems import ROOT
from esper.errors import ConfigError

_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


def load_toml(path: str | Path) -> dict[str, Any]:
    """One config file as a dict; a missing, unreadable or invalid file is a `ConfigError`."""
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
    """Merge ``other`` into ``base`` in place, table by table; ``other``'s values win."""
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_raw(
    files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    *,
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``base`` (a preset's raw config; copied, never changed), then the files merged over it
    in order, then the overrides applied in order."""
    raw: dict[str, Any] = merge({}, base) if base is not None else {}
    for file in files:
        merge(raw, load_toml(file))
    for assignment in overrides:
        apply_override(raw, assignment)
    return raw
