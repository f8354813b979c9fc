"""The plugin is installed, discovered through its entry point and cheap to import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from esper.plugin import SinkSpec

import esper_sink_tensorboard.plugin as hook_module
from esper_sink_tensorboard.config import TensorBoardSinkConfig
from esper_sink_tensorboard.sink import TensorBoardSink

PLUGIN = "esper.telemetry.tensorboard"  # the entry-point name in pyproject.toml


def test_plugin_is_autoloaded_through_its_entry_point(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    result = subprocess.run(
        [sys.executable, "-m", "esper", "plugins", "list", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    info = {i["name"]: i for i in json.loads(result.stdout)}[PLUGIN]
    assert info["status"] == "loaded"
    assert info["builtin"] is False
    assert info["distribution"] == "esper-sink-tensorboard"
    assert info["module"] == "esper_sink_tensorboard.plugin"
    assert info["registered"] == {"telemetry_sinks": ["tensorboard"]}


def test_hook_module_imports_neither_torch_nor_tensorboard(tmp_path: Path) -> None:
    code = (
        "import sys, esper_sink_tensorboard.plugin as m\n"
        "list(m.esper_telemetry_sinks())\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('torch', 'tensorboard')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_spec_names_importable_factory_and_config() -> None:
    (spec,) = list(hook_module.esper_telemetry_sinks())
    assert isinstance(spec, SinkSpec)
    assert spec.name == "tensorboard"
    assert spec.load_factory() is TensorBoardSink
    assert spec.load_config_cls() is TensorBoardSinkConfig
