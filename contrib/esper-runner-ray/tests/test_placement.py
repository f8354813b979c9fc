"""How environments map to CPUs and GPUs (`esper_runner_ray.runner.placement`), and plugin sets."""

from __future__ import annotations

import pytest
from esper.registry.manager import build_manager

from esper_runner_ray.config import RayRunnerConfig
from esper_runner_ray.remote import PluginSet
from esper_runner_ray.runner import ClusterError, placement


def test_cpus_are_shared_so_every_environment_is_placed_at_once() -> None:
    p = placement(RayRunnerConfig(), envs=4, run_device="auto", resources={"CPU": 2.0})
    assert (p.cpus, p.gpus, p.device) == (0.5, 0.0, "cpu")
    p = placement(RayRunnerConfig(), envs=3, run_device="cpu", resources={"CPU": 2.0})
    assert p.cpus == 0.6666  # rounded down to Ray's 1/10,000 resolution
    p = placement(RayRunnerConfig(), envs=4, run_device="cpu", resources={"CPU": 64.0})
    assert p.cpus == 1.0  # never more than one CPU each unless asked
    p = placement(RayRunnerConfig(cpus_per_env=2.0), envs=4, run_device="cpu", resources={})
    assert p.cpus == 2.0


def test_gpus_are_split_evenly_over_the_clusters_gpus() -> None:
    resources = {"CPU": 64.0, "GPU": 8.0}
    p = placement(RayRunnerConfig(), envs=64, run_device="auto", resources=resources)
    assert (p.gpus, p.device) == (0.125, "cuda")  # 8 environments per GPU
    p = placement(RayRunnerConfig(), envs=4, run_device="cuda", resources=resources)
    assert p.gpus == 1.0  # fewer environments than GPUs: one GPU each
    p = placement(RayRunnerConfig(envs_per_gpu=3), envs=64, run_device="auto", resources=resources)
    assert p.gpus == 0.3333
    p = placement(RayRunnerConfig(), envs=64, run_device="cpu", resources=resources)
    assert (p.gpus, p.device) == (0.0, "cpu")  # run.device = cpu keeps them off the GPUs
    p = placement(RayRunnerConfig(envs_per_gpu=0), envs=64, run_device="auto", resources=resources)
    assert (p.gpus, p.device) == (0.0, "cpu")


def test_cuda_without_gpus_is_refused() -> None:
    with pytest.raises(ClusterError, match="has no GPUs"):
        placement(RayRunnerConfig(), envs=2, run_device="cuda", resources={"CPU": 2.0})
    with pytest.raises(ClusterError, match="envs_per_gpu = 0"):
        placement(
            RayRunnerConfig(envs_per_gpu=0), envs=2, run_device="cuda:0", resources={"GPU": 1.0}
        )


def test_plugin_sets_rebuild_the_drivers_plugins() -> None:
    manager = build_manager(["esper.runners.ray", "no:esper.policies.heuristic"], autoload=False)
    plugins = PluginSet.of(manager)
    assert plugins.installed == ("esper.runners.ray",)
    assert plugins.blocked == ("esper.policies.heuristic",)
    rebuilt = plugins.load()
    loaded = {i.name for i in rebuilt.loaded()}
    assert loaded == {i.name for i in manager.loaded()}
    assert "esper.policies.heuristic" not in loaded
