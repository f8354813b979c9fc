"""The command line: ``--runner ray``, ``--ray-address`` and the runner's option checks.

None of these start Ray: configurations are checked, and a run is stopped, before any
environment exists.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from esper.cli.main import cli
from esper.errors import EsperError

PLUGIN = ["--plugin", "esper.runners.ray"]


class _Stop(EsperError):
    """Raised instead of building the run: the test only wants the structured config."""


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("ESPER_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return run


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    from esper.recipes import train as training_run

    configs: list[Any] = []

    def build(config: Any, registries: Any, session: Any) -> Any:
        configs.append(config)
        raise _Stop("stopped by the test")

    monkeypatch.setattr(training_run.TrainingRun, "build", staticmethod(build))
    return configs


def test_ray_without_the_plugin_is_a_clear_usage_error(invoke: Any) -> None:
    result = invoke("train", "--runner", "ray", "--episodes", "2")
    assert result.exit_code == 2
    assert "config.runner.name: unknown runner 'ray'" in result.stderr


@pytest.mark.parametrize(
    ("args", "address"),
    [
        (["--runner", "ray"], ""),
        (["--runner", "ray", "--ray-address", "auto"], "auto"),
        (["--ray-address", "127.0.0.1:6379"], "127.0.0.1:6379"),  # implies --runner ray
        (
            ["--runner", "esper.runners.ray:ray", "--ray-address", "ray://[::1]:10001"],
            "ray://[::1]:10001",
        ),
    ],
)
def test_ray_address_sets_the_runners_address(
    invoke: Any, captured: list[Any], tmp_path: Path, args: list[str], address: str
) -> None:
    result = invoke(*PLUGIN, "train", *args, "--out", str(tmp_path), "--quiet")
    assert result.exit_code == 2
    assert "stopped by the test" in result.stderr
    (config,) = captured
    runner = config.components["runner"]
    assert runner.id == "esper.runners.ray:ray"
    assert runner.options.address == address


def test_ray_address_with_another_runner_names_the_key(invoke: Any) -> None:
    result = invoke(*PLUGIN, "train", "--runner", "vectorized", "--ray-address", "auto")
    assert result.exit_code == 2
    assert "config.runner.address: unknown key" in result.stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("runner.address='nonsense'", "config.runner.address"),
        ("runner.address='10.0.0.1'", "expected '' (a local Ray instance"),
        ("runner.cpus_per_env=0", "config.runner.cpus_per_env"),
        ("runner.num_cpus=-1", "config.runner.num_cpus"),
        ("runner.envs_per_gpu=-1", "config.runner.envs_per_gpu"),
        ("runner.torch_threads=0", "config.runner.torch_threads"),
        ("runner.max_restarts=-2", "config.runner.max_restarts"),
        ("runner.start_timeout_s=0", "config.runner.start_timeout_s"),
        ("runner.workers=3", "config.runner.workers"),
    ],
)
def test_bad_runner_options_exit_2_naming_the_key(
    invoke: Any, captured: list[Any], setting: str, message: str
) -> None:
    result = invoke(*PLUGIN, "train", "--runner", "ray", "--set", setting)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert captured == []  # stopped before any run was built


def test_plugins_list_shows_the_runner_without_importing_ray_or_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "esper", "plugins", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "esper.runners.ray" in proc.stdout
    imported = {
        line.split("|")[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "esper_runner_ray.events" in imported  # the plugin module's one import: it loaded
    assert not {m for m in imported if m.split(".")[0] in ("ray", "torch")}
