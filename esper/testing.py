"""A pytest plugin for esper and for plugin authors (installed as the ``esper`` pytest11 plugin).

Fixtures:

- ``esper_manager``: a plugin manager with only the built-in plugins (no autoload);
- ``register_plugin``: ``register_plugin(obj, name=...)`` adds an in-process plugin to
  ``esper_manager`` and removes it after the test;
- ``esper_cli``: ``esper_cli("plugins", "list", "--json")`` runs the CLI in-process and
  returns click's result (``exit_code``, ``stdout``, ``stderr``);
- ``captured_logs``: a list that receives every structlog event emitted during the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest


@pytest.fixture
def esper_manager() -> Any:
    from esper.manager import build_manager

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
