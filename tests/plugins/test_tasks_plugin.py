"""The esper.tasks plugin: registration, torch-free hook module, config classes, config files."""

from __future__ import annotations

import subprocess
import sys

import attrs
import pytest

from esper.config.loading import structure, unstructure
from esper.contracts.task import Task
from esper.errors import ConfigError
from esper.registry import Registries
from esper_plugins.tasks.config import (
    CIFAR10TaskConfig,
    ImageTaskConfig,
    StoriesTaskConfig,
    TextTaskConfig,
)

EXPECTED = {
    "image": "cnn",
    "image-impaired": "cnn",
    "image-minimal": "cnn",
    "cifar10": "cnn",
    "stories": "transformer",
    "text": "transformer",
}


def test_hook_module_and_configs_do_not_import_torch() -> None:
    code = (
        "import sys, esper_plugins.tasks as t, esper_plugins.tasks.config; "
        "specs = list(t.esper_tasks()); "
        "assert 'torch' not in sys.modules, 'torch imported'; print(len(specs))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "6"


def test_registered_tasks(registries: Registries) -> None:
    tasks = {entry.name: entry for entry in registries["tasks"]}
    assert {name: e.spec.topology for name, e in tasks.items() if name in EXPECTED} == EXPECTED
    for name in EXPECTED:
        spec = tasks[name].spec
        assert isinstance(spec.factory, str)
        config_cls = spec.load_config_cls()
        assert config_cls is not None
        assert attrs.has(config_cls)
        assert config_cls.__setattr__ is not object.__setattr__  # frozen
        assert spec.summary


@pytest.mark.parametrize("name", [n for n in EXPECTED if n != "text"])
def test_factories_build_tasks_with_default_options(registries: Registries, name: str) -> None:
    entry = registries["tasks"].get(name)
    config_cls = entry.spec.load_config_cls()
    task = entry.build(config_cls())
    assert isinstance(task, Task)
    assert task.info.topology == EXPECTED[name]
    # Called with None, as a caller without a config file would.
    assert entry.build(None).info == task.info


def test_config_file_selects_the_task_and_its_options(registries: Registries) -> None:
    raw = {"task": {"name": "image", "classes": 7, "host": {"base_channels": 4}}}
    config = structure(raw, registries)
    comp = config.components["task"]
    assert comp.options == ImageTaskConfig(classes=7, host={"base_channels": 4})
    task = registries["tasks"].get(comp.id).build(comp.options)
    host = task.build_host(registries)
    # The class count flows from the config to the host's head (review finding T2-1).
    assert task.info.num_outputs == 7
    assert host.head.out_features == 7
    assert host.channels == [4, 8, 16]
    # And back out: a resolved config can be written and read again.
    assert unstructure(config)["task"]["host"] == {"base_channels": 4}


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"name": "image", "classes": 1}, "config.task.classes"),
        ({"name": "image", "classes": "12"}, "config.task.classes"),
        ({"name": "image", "noise": 2.0}, "config.task.noise"),
        ({"name": "image", "host": 3}, "config.task.host"),
        ({"name": "stories", "tokenizer": "bpe"}, "config.task.tokenizer"),
        ({"name": "stories", "block_size": 1}, "config.task.block_size"),
        ({"name": "cifar10", "download": "yes"}, "config.task.download"),
        ({"name": "text", "path": ""}, "config.task.path"),
        ({"name": "text", "path": "a.txt", "val_fraction": 1.0}, "config.task.val_fraction"),
        ({"name": "text", "path": "a.txt", "max_chars": 0}, "config.task.max_chars"),
    ],
)
def test_bad_options_are_config_errors(
    registries: Registries, section: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        structure({"task": section}, registries)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_config_classes_are_frozen_and_hashable() -> None:
    for cfg in (
        ImageTaskConfig(host={"base_channels": 4}),
        CIFAR10TaskConfig(),
        StoriesTaskConfig(),
        TextTaskConfig(path="x.txt"),
    ):
        hash(cfg)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            cfg.batch_size = 1  # type: ignore[misc]
    assert ImageTaskConfig(host={"a": 1}) != ImageTaskConfig(host={"a": 2})
    assert ImageTaskConfig(host={"a": 1}) == ImageTaskConfig(host={"a": 1})
