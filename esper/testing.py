"""A pytest plugin for esper and for plugin authors (installed as the ``esper`` pytest11 plugin).

Fixtures:

- ``esper_manager``: a plugin manager with only the built-in plugins (no autoload);
- ``register_plugin``: ``register_plugin(obj, name=...)`` adds an in-process plugin to
  ``esper_manager`` and removes it after the test;
- ``esper_cli``: ``esper_cli("plugins", "list", "--json")`` runs the CLI in-process and
  returns click's result (``exit_code``, ``stdout``, ``stderr``);
- ``captured_logs``: a list that receives every structlog event emitted during the test.

Helpers:

- `numeric_options` and `check_numeric_bounds`: a plugin's config class follows the rule
  esper's own do (every float option rejects NaN and +-inf, every int option has an upper
  bound) when ``check_numeric_bounds(MyConfig)`` returns without raising.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import attrs
import pytest

#: What every float / int config option must reject (2**64 + 1 too: an odd-only option
#: would refuse 2**64 for its parity, not its size).
ABSURD: dict[type, tuple[Any, ...]] = {
    float: (math.nan, math.inf, -math.inf),
    int: (2**64, 2**64 + 1),
}


def _numeric_kind(hint: Any) -> type | None:
    """float or int for a numeric option (``X | None`` too), None otherwise (bool included)."""
    if typing.get_origin(hint) not in (None, typing.Union, types.UnionType):
        return None  # a container: dict[str, float] is no number
    args = typing.get_args(hint) or (hint,)
    return float if float in args else int if int in args else None


def numeric_options(cls: type) -> list[tuple[attrs.Attribute[Any], type]]:
    """The options of the attrs config class ``cls`` that hold a number, with their kind."""
    hints = typing.get_type_hints(cls)
    found = [(field, _numeric_kind(hints[field.name])) for field in attrs.fields(cls)]
    return [(field, kind) for field, kind in found if kind is not None]


def check_numeric_bounds(cls: type, **required: Any) -> list[str]:
    """Assert that every numeric option of ``cls`` rejects the `ABSURD` values of its kind,
    through its own validator, with a message naming it; return the options checked.

    ``required`` gives the options that have no default.
    """
    checked = []
    for field, kind in numeric_options(cls):
        if field.validator is None:
            pytest.fail(f"{cls.__name__}.{field.name} has no validator")
        for value in ABSURD[kind]:
            with pytest.raises((ValueError, TypeError)) as info:
                cls(**required, **{field.name: value})
            if field.name not in str(info.value):
                pytest.fail(
                    f"{cls.__name__}.{field.name}: the error does not name it: {info.value}"
                )
            # Its own validator says no, not a check of another option that happens to fail.
            converted = field.converter(value) if callable(field.converter) else value
            with pytest.raises((ValueError, TypeError)):
                field.validator(cls(**required), field, converted)
        checked.append(field.name)
    return checked


@pytest.fixture
def esper_manager() -> Any:
    from esper.registry.manager import build_manager

    return build_manager(autoload=False, strict=True)


@pytest.fixture
def register_plugin(esper_manager: Any) -> Iterator[Callable[..., Any]]:
    added: list[str] = []

    def register(plugin: object, name: str | None = None) -> Any:
        plugin_name = name or f"test-plugin-{len(added)}"
        esper_manager.add_plugin(plugin, plugin_name)
        added.append(plugin_name)
        return esper_manager

    yield register
    for plugin_name in added:
        esper_manager.remove_plugin(plugin_name)


@pytest.fixture
def esper_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    from click.testing import CliRunner

    from esper.cli.main import cli

    monkeypatch.setenv("ESPER_DISABLE_PLUGIN_AUTOLOAD", "1")

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        runner = CliRunner()
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def captured_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    import structlog.testing

    with structlog.testing.capture_logs() as logs:
        yield logs
