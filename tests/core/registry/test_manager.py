"""The plugin manager: in-process plugins, hook validation and failure records."""

from __future__ import annotations

import sys
import types

import pytest

from esper.errors import PluginError
from esper.plugin import SinkSpec, hookimpl
from esper.registry.manager import build_manager


def test_builtins_load_without_autoload() -> None:
    manager = build_manager(autoload=False)
    loaded = {i.name for i in manager.loaded()}
    assert {"esper.telemetry.jsonl", "esper.telemetry.console"} <= loaded
    assert all(i.builtin for i in manager.loaded())


def test_misspelled_hook_is_rejected_with_a_hint(esper_manager) -> None:
    class Typo:
        @hookimpl
        def esper_telemetry_sink(self):  # missing the final "s"
            yield from ()

    with pytest.raises(
        PluginError,
        match=r"unknown hook\(s\): esper_telemetry_sink \(did you mean esper_telemetry_sinks\?\)",
    ):
        esper_manager.add_plugin(Typo(), "typo")
    assert esper_manager.get_plugin("typo") is None
    esper_manager.check_pending()  # nothing left behind


def test_registration_hook_must_yield_the_right_record(esper_manager) -> None:
    class Wrong:
        @hookimpl
        def esper_telemetry_sinks(self):
            yield "not a record"

    with pytest.raises(PluginError, match="yielded str, expected SinkSpec"):
        esper_manager.add_plugin(Wrong(), "wrong")
    assert esper_manager.infos["wrong"].status == "failed"


def test_failing_registration_hook_is_recorded(esper_manager) -> None:
    class Boom:
        @hookimpl
        def esper_telemetry_sinks(self):
            raise RuntimeError("kaboom")

    with pytest.raises(PluginError, match="kaboom"):
        esper_manager.add_plugin(Boom(), "boom")
    info = esper_manager.infos["boom"]
    assert info.status == "failed"
    assert "RuntimeError" in (info.traceback or "")


def test_hook_asking_for_unknown_argument_is_rejected(esper_manager) -> None:
    class BadArgs:
        @hookimpl
        def esper_run_end(self, run, status, surprise):
            pass

    with pytest.raises(PluginError, match="registration failed"):
        esper_manager.add_plugin(BadArgs(), "badargs")


def test_plugin_by_module_path(monkeypatch) -> None:
    module = types.ModuleType("esper_test_module_plugin")

    @hookimpl
    def esper_telemetry_sinks():
        yield SinkSpec(name="mod", factory="builtins:object")

    module.esper_telemetry_sinks = esper_telemetry_sinks  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "esper_test_module_plugin", module)
    manager = build_manager(["esper_test_module_plugin"], autoload=False)
    info = manager.infos["esper_test_module_plugin"]
    assert info.explicit
    assert info.status == "loaded"
    assert info.registered == {"telemetry_sinks": ["mod"]}


def test_explicit_builtin_is_marked_explicit_not_loaded_twice() -> None:
    manager = build_manager(["esper.telemetry.jsonl"], autoload=False)
    info = manager.infos["esper.telemetry.jsonl"]
    assert info.explicit
    assert info.builtin
    assert [r.id for r in manager.records("telemetry_sinks")].count(
        "esper.telemetry.jsonl:jsonl"
    ) == 1


def test_requested_and_blocked_is_an_error() -> None:
    with pytest.raises(PluginError, match="both requested and blocked"):
        build_manager(["no:esper_x", "esper_x"], autoload=False)


def test_explicit_module_with_a_missing_dependency_names_the_dependency(
    monkeypatch, tmp_path
) -> None:
    (tmp_path / "esper_test_needs_dep.py").write_text("import esper_dependency_that_is_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        PluginError,
        match=r"error importing plugin \"esper_test_needs_dep\".*esper_dependency_that_is_missing",
    ):
        build_manager(["esper_test_needs_dep"], autoload=False)


def test_esper_plugins_env_var(monkeypatch) -> None:
    monkeypatch.setenv("ESPER_PLUGINS", "no:esper.telemetry.console")
    manager = build_manager(autoload=False)
    assert manager.infos["esper.telemetry.console"].status == "blocked"
