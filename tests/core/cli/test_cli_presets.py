"""Presets in the CLI: ``esper presets list|show``, ``--preset`` on the commands that read a
config, the layering (preset, then files, then ``--set``), and the errors, with presets a
third-party plugin registers (the built-in ones: tests/plugins/test_presets.py)."""

from __future__ import annotations

import json
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest

from esper.config.presets import config_source, load_preset
from esper.errors import PluginError
from esper.plugin import PresetSpec, hookimpl
from esper.registry import Registries

from support.cli import esper

PLUGIN = "esper_test_preset_plugin"

#: A preset a third party ships: no file behind it, a dict built in code.
TINY = {
    "run": {"epochs": 2, "seed": 11},
    "task": {"name": "image", "train_size": 48, "val_size": 16},
    "policy": {"name": "static"},
}


def _bad_factory() -> Any:
    return ["not", "a", "table"]


@pytest.fixture
def preset_plugin(monkeypatch: pytest.MonkeyPatch) -> str:
    """A plugin module, importable by name for ``--plugin``, that registers three presets."""
    module = types.ModuleType(PLUGIN)

    @hookimpl
    def esper_presets() -> Any:
        yield PresetSpec(name="tiny", factory=lambda: TINY, summary="a tiny static run")
        yield PresetSpec(name="broken", factory=lambda: {"run": {"epochs": -3}})
        yield PresetSpec(name="listless", factory=_bad_factory, command="eval")

    module.esper_presets = esper_presets  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PLUGIN, module)
    return PLUGIN


def test_a_plugin_preset_is_listed_and_shown(esper_cli: Any, preset_plugin: str) -> None:
    listed = esper_cli("--plugin", preset_plugin, "presets", "list", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[f"{PLUGIN}:tiny"] == {
        "id": f"{PLUGIN}:tiny",
        "name": "tiny",
        "command": "run",
        "plugin": PLUGIN,
        "summary": "a tiny static run",
    }
    assert rows[f"{PLUGIN}:listless"]["command"] == "eval"
    table = esper_cli("--plugin", preset_plugin, "presets", "list")
    assert table.exit_code == 0, table.stderr
    assert "tiny" in table.stdout
    assert "a tiny static run" in table.stdout
    # No file behind it: show prints the factory's dict as TOML.
    shown = esper_cli("--plugin", preset_plugin, "presets", "show", "tiny")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith(f"# preset {PLUGIN}:tiny\n")
    assert tomllib.loads(shown.stdout) == TINY


def test_a_plugin_preset_runs(esper_cli: Any, preset_plugin: str, tmp_path: Path) -> None:
    result = esper_cli(
        "--plugin", preset_plugin, "run", "--preset", "tiny", "--quiet", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    [run_dir] = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["epochs"] == 2
    assert summary["policy"].endswith(":static")
    assert summary["task"].endswith(":image")


def test_preset_then_files_then_overrides(
    esper_cli: Any, preset_plugin: str, tmp_path: Path
) -> None:
    first = tmp_path / "first.toml"
    first.write_text("[run]\nepochs = 5\nseed = 12\n\n[task]\nval_size = 24\n", encoding="utf-8")
    second = tmp_path / "second.toml"
    second.write_text("[run]\nepochs = 6\n", encoding="utf-8")
    result = esper_cli(
        "--plugin",
        preset_plugin,
        "config",
        "show",
        "--format",
        "json",
        "--preset",
        "tiny",
        "--config",
        str(first),
        "--config",
        str(second),
        "--set",
        "run.seed=13",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["run"]["epochs"] == 6  # the later file over the earlier one over the preset
    assert data["run"]["seed"] == 13  # --set over everything
    # Tables merge key by key: the preset's keys the files leave alone stay.
    assert (data["task"]["train_size"], data["task"]["val_size"]) == (48, 24)
    assert data["policy"]["name"].endswith(":static")


def test_an_invalid_preset_is_named_in_the_error(esper_cli: Any, preset_plugin: str) -> None:
    result = esper_cli("--plugin", preset_plugin, "config", "show", "--preset", "broken")
    assert result.exit_code == 2
    assert "invalid configuration in preset 'broken':" in result.stderr
    assert "config.run.epochs: must be > 0: -3" in result.stderr


def test_a_factory_that_returns_no_table_is_a_plugin_error(
    esper_cli: Any, preset_plugin: str
) -> None:
    result = esper_cli("--plugin", preset_plugin, "config", "show", "--preset", "listless")
    assert result.exit_code == 2
    assert f"preset '{PLUGIN}:listless': its factory must return a dict" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--preset", "cifar10-impared"],
        ["config", "show", "--preset", "cifar10-impared"],
        ["presets", "show", "cifar10-impared"],
    ],
)
def test_an_unknown_preset_exits_2_with_suggestions_and_no_traceback(args: list[str]) -> None:
    proc = esper(*args)
    assert proc.returncode == 2
    assert "unknown preset 'cifar10-impared'. Did you mean: cifar10-impaired" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_preset_meant_for_another_command_warns(
    esper_manager: Any, register_plugin: Any, preset_plugin: str, captured_logs: list[Any]
) -> None:
    register_plugin(sys.modules[preset_plugin], name="presets-under-test")
    registries = Registries(esper_manager)
    assert load_preset(registries, "tiny", command="eval") == TINY  # run and eval share tables
    assert captured_logs == []
    assert load_preset(registries, "tiny", command="train") == TINY
    [warning] = captured_logs
    assert warning["log_level"] == "warning"
    assert (warning["meant_for"], warning["command"]) == ("esper run", "esper train")
    assert load_preset(registries, None) is None


def test_the_factory_dict_is_never_changed(
    esper_manager: Any, register_plugin: Any, preset_plugin: str
) -> None:
    from esper.config import resolve

    register_plugin(sys.modules[preset_plugin], name="presets-under-test")
    before = json.dumps(TINY, sort_keys=True)
    resolve(Registries(esper_manager), overrides=["task.host.base_channels=4"], preset="tiny")
    assert json.dumps(TINY, sort_keys=True) == before


def test_config_source_names_the_preset_first() -> None:
    assert config_source() is None
    assert config_source(["a.toml"]) == "a.toml"
    assert config_source(["a.toml", "b.toml"], "p") == "preset 'p', a.toml, b.toml"


def test_a_missing_factory_module_is_a_plugin_error(
    esper_manager: Any, register_plugin: Any
) -> None:
    class Plugin:
        @hookimpl
        def esper_presets(self) -> Any:
            yield PresetSpec(name="gone", factory="no_such_module_anywhere:preset")

    register_plugin(Plugin(), name="gone-plugin")
    with pytest.raises(PluginError, match="cannot import 'no_such_module_anywhere'"):
        load_preset(Registries(esper_manager), "gone")


def test_a_preset_command_must_be_one_esper_has() -> None:
    with pytest.raises(ValueError, match="command"):
        PresetSpec(name="x", factory=dict, command="grow")
