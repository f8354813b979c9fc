"""The built-in presets (``esper.presets``): each is listed, resolves, validates and starts.

"Starts" is one epoch of each on tiny data: the preset's own tables with the data shrunk by
``--set`` (the CIFAR-10 presets read a few fake images in the dataset's python format). The
parameter count a preset's summary states is the one its run reports for the static host.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from esper_plugins.presets import PRESETS, preset_path, read_preset
from esper_plugins.tasks import cifar

from support.cifar import make_fake_cifar
from support.cli import esper
from support.paths import ROOT
from support.stories import TINY_TEXT, write_stories

NAMES = [name for name, _, _ in PRESETS]
COMMAND = {name: command for name, command, _ in PRESETS}
SUMMARY = {name: summary for name, _, summary in PRESETS}

#: Per task the preset names: ``--set`` overrides that shrink its data to a few examples.
TINY_DATA: dict[str, list[str]] = {
    "image": ["task.train_size=64", "task.val_size=32"],
    "stories": ["task.train_windows=32", "task.val_windows=8"],
    "cifar10": [],  # the fake files hold 15 training and 4 test images
    "text": TINY_TEXT,  # a small BPE and host too; the stories are written by the test
}
#: ``esper train``: one update of two one-epoch episodes, a tiny controller, a short imitation.
TINY_TRAINING = [
    "--episodes=2",
    "--envs=2",
    "--set=train.imitation_episodes=1",
    "--set=train.imitation_heldout=0",
    "--set=train.imitation_epochs=2",
    "--set=policy.hidden_dim=16",
    "--set=policy.feature_dim=16",
]


@pytest.fixture
def no_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake batches are read by the python-batch reader, whether or not torchvision is here.
    monkeypatch.setattr(cifar, "import_torchvision", lambda: None)


def _task_name(preset: str) -> str:
    name = read_preset(preset).get("task", {}).get("name", "image")
    assert isinstance(name, str)
    return name


def _resolved(esper_cli: Any, *args: str) -> dict[str, Any]:
    result = esper_cli("config", "show", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_at_least_six_presets_are_listed(esper_cli: Any) -> None:
    result = esper_cli("presets", "list", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {row["name"] for row in rows} == set(NAMES)
    assert len(rows) >= 6
    for row in rows:
        assert row["id"] == f"esper.presets:{row['name']}"
        assert row["command"] == COMMAND[row["name"]]
        assert row["plugin"] == "esper.presets"
        assert row["summary"] == SUMMARY[row["name"]]


def test_every_preset_file_is_listed_and_every_listed_preset_has_one() -> None:
    files = {path.stem for path in preset_path("x").parent.glob("*.toml")}
    assert files == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_preset_resolves_and_validates(esper_cli: Any, name: str) -> None:
    shipped = read_preset(name)
    resolved = _resolved(esper_cli, "--preset", name)
    # The preset's own values survive resolution (component names become ids).
    for table, values in shipped.items():
        for key, value in values.items():
            if key == "name":
                assert resolved[table]["name"].endswith(f":{value}"), (table, resolved[table])
            else:
                assert resolved[table][key] == value, (table, key)


def test_the_embedded_defaults_are_what_the_commands_do_without_a_preset(esper_cli: Any) -> None:
    assert _resolved(esper_cli, "--preset", "image") == _resolved(esper_cli)
    assert _resolved(esper_cli, "--preset", "stories") == _resolved(
        esper_cli, "--set", "task.name='stories'"
    )
    recipe = str(ROOT / "configs" / "train-image.toml")
    assert _resolved(esper_cli, "--preset", "train-image") == _resolved(
        esper_cli, "--config", recipe
    )


def test_show_prints_the_file_as_shipped(esper_cli: Any) -> None:
    result = esper_cli("presets", "show", "cifar10-impaired")
    assert result.exit_code == 0, result.stderr
    text = preset_path("cifar10-impaired").read_text(encoding="utf-8")
    assert result.stdout.endswith(text)
    assert "base 1" in result.stdout  # the comments say why the host differs from the spec's
    assert tomllib.loads(result.stdout) == read_preset("cifar10-impaired")


@pytest.mark.usefixtures("no_torchvision")
@pytest.mark.parametrize("name", NAMES)
def test_each_preset_starts(esper_cli: Any, tmp_path: Path, name: str) -> None:
    task = _task_name(name)
    if task not in TINY_DATA:
        pytest.fail(f"preset {name!r}: add the settings that shrink task {task!r} to TINY_DATA")
    if task == "cifar10":
        make_fake_cifar(tmp_path / "data")
    command = COMMAND[name]
    args = [command, "--preset", name, "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs")]
    args += [f"--set=run.data_dir={str(tmp_path / 'data')!r}"]
    args += [f"--set={override}" for override in TINY_DATA[task]]
    if task == "text":
        args += [f"--set=task.path={str(write_stories(tmp_path / 'TinyStories'))!r}"]
    if command == "train":
        args += TINY_TRAINING
    result = esper_cli(*args)
    assert result.exit_code == 0, result.output
    [run_dir] = (tmp_path / "runs").iterdir()
    written = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    assert written["task"]["name"].endswith(f":{task}")
    assert written["run"]["epochs"] == 1
    stated = re.search(r"([\d,]+) params", SUMMARY[name])
    # The text task's vocabulary, and so its count, comes from the corpus: the tinystories
    # count is checked at its own vocabulary (tests/plugins/test_tasks_text_bpe.py).
    if command == "run" and stated is not None and task != "text":
        # The count the summary states is the host this preset builds.
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        assert summary["static"]["params"]["total"] == int(stated.group(1).replace(",", ""))


@pytest.mark.usefixtures("no_torchvision")
def test_run_layers_files_and_overrides_over_the_preset(esper_cli: Any, tmp_path: Path) -> None:
    make_fake_cifar(tmp_path / "data")
    layer = tmp_path / "mine.toml"
    layer.write_text(
        "[run]\nepochs = 3\nseed = 7\n\n[task.host]\nbase_channels = 4\n", encoding="utf-8"
    )
    result = esper_cli(
        "run",
        "--preset",
        "cifar10-minimal",  # base 2, three 1x1 blocks, no pooling; 40 epochs, seed 42
        "--config",
        str(layer),
        "--set",
        "run.epochs=1",
        "--set",
        f"run.data_dir={str(tmp_path / 'data')!r}",
        "--quiet",
        "--out",
        str(tmp_path / "runs"),
    )
    assert result.exit_code == 0, result.output
    [run_dir] = (tmp_path / "runs").iterdir()
    written = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    assert written["run"]["epochs"] == 1  # --set over the file over the preset
    assert written["run"]["seed"] == 7  # the file over the preset
    assert written["task"]["host"] == {  # tables merge: the file's key, the preset's others
        "base_channels": 4,
        "n_blocks": 3,
        "kernel_size": 1,
        "pool_layers": 0,
    }
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    # 3->4->8->16 channels of 1x1 convolutions with batch norm, then a 16->10 head.
    assert summary["static"]["params"]["total"] == 398


def test_eval_starts_from_a_preset(tmp_path: Path) -> None:
    proc = esper(
        "eval",
        "--preset",
        "stories",
        "--controllers",
        "static",
        "--seeds",
        "1",
        "--larger-static",
        "none",
        "--workers",
        "1",
        "--epochs",
        "1",
        "--set",
        "task.train_windows=32",
        "--set",
        "task.val_windows=8",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    [plan] = tmp_path.glob("*/plan.json")
    base = json.loads(plan.read_text(encoding="utf-8"))["base_config"]
    assert base["task"]["name"].endswith(":stories")  # the default task is image
