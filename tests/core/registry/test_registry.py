"""Registries: namespaced ids, bare-name lookup, conflicts, lazy factories."""

from __future__ import annotations

import sys
import types

import pytest

from esper.errors import PluginError, RegistryError
from esper.plugin import BlueprintSpec, SinkSpec, hookimpl
from esper.registry import Entry, Registries, Registry, registry_from
from esper.registry.manager import Registration
from esper.registry.specs import import_ref


def _bp(name: str, topology: str = "cnn", factory: str = "math:sqrt") -> BlueprintSpec:
    return BlueprintSpec(name=name, topology=topology, factory=factory)


def test_ids_are_namespaced_and_bare_names_resolve_when_unique() -> None:
    reg = registry_from(
        [Registration("alpha", _bp("wide")), Registration("beta", _bp("deep"))], "blueprints"
    )
    assert reg.ids() == ["alpha:wide", "beta:deep"]
    assert reg.get("wide").id == "alpha:wide"
    assert reg.get("beta:deep").plugin == "beta"


def test_ambiguous_bare_name_lists_candidates_and_filter_disambiguates() -> None:
    reg = registry_from(
        [
            Registration("cnnplug", _bp("noop", "cnn")),
            Registration("tfmplug", _bp("noop", "transformer")),
        ],
        "blueprints",
    )
    with pytest.raises(RegistryError, match=r"ambiguous.*cnnplug:noop.*tfmplug:noop"):
        reg.get("noop")
    assert reg.get("noop", where=lambda s: s.topology == "transformer").id == "tfmplug:noop"


def test_unknown_name_suggests_close_matches() -> None:
    reg = registry_from(
        [Registration("p", _bp("conv_heavy")), Registration("p", _bp("conv_light"))], "blueprints"
    )
    with pytest.raises(
        RegistryError, match=r"unknown blueprint 'conv_hevy'.*Did you mean: conv_heavy"
    ):
        reg.get("conv_hevy")


def test_duplicate_ids_raise_listing_every_conflict() -> None:
    regs = [
        Registration("p", _bp("a")),
        Registration("p", _bp("a")),
        Registration("q", _bp("b")),
        Registration("q", _bp("b")),
        Registration("q", _bp("c")),
    ]
    with pytest.raises(RegistryError) as info:
        registry_from(regs, "blueprints")
    message = str(info.value)
    assert "p:a registered by p, p" in message
    assert "q:b registered by q, q" in message
    assert "q:c" not in message


def test_factory_string_is_imported_only_when_built() -> None:
    module = types.ModuleType("esper_test_lazy_factory")
    calls: list[int] = []

    def make(dim: int) -> int:
        calls.append(dim)
        return dim * 2

    module.make = make  # type: ignore[attr-defined]
    spec = _bp("lazy", factory="esper_test_lazy_factory:make")
    entry = Entry("p:lazy", "p", spec)
    # Not importable yet: constructing the record and the registry must not import it.
    Registry("blueprints", [entry])
    sys.modules["esper_test_lazy_factory"] = module
    try:
        assert entry.build(21) == 42
        assert calls == [21]
    finally:
        del sys.modules["esper_test_lazy_factory"]


def test_bad_factory_reference_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="no attribute"):
        import_ref("math:no_such_function")
    with pytest.raises(PluginError, match="cannot import"):
        import_ref("no_such_module_xyz:thing")
    with pytest.raises(ValueError, match=r"package\.module:attr"):
        _bp("x", factory="not a reference")


def test_record_names_are_validated() -> None:
    with pytest.raises(ValueError, match="name must match"):
        _bp("Bad Name")


def test_registries_from_manager(esper_manager, register_plugin) -> None:
    class Plugin:
        @hookimpl
        def esper_telemetry_sinks(self):
            yield SinkSpec(name="null", factory="builtins:object")

    register_plugin(Plugin(), name="nullsink")
    sinks = Registries(esper_manager)["telemetry_sinks"]
    assert "nullsink:null" in sinks
    assert sinks.get("jsonl").id == "esper.telemetry.jsonl:jsonl"
    assert Registries(esper_manager).conflicts() == []
