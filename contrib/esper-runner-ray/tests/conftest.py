"""Shared fixtures: one local Ray instance for the whole session, and the plugin registries.

Ray starts once (about 3 s; 2 CPUs, loopback only, through the runner's own `connect`), and
each test's actors are stopped when the test ends, so the session stays within a few actors
(each imports torch: about 250 MB).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from esper.registry import Registries
from esper.registry.manager import build_manager


@pytest.fixture(scope="session")
def local_ray() -> Iterator[None]:
    import ray

    from esper_runner_ray.config import RayRunnerConfig
    from esper_runner_ray.runner import connect

    started = connect(RayRunnerConfig(num_cpus=2))
    yield
    if started:
        ray.shutdown()


@pytest.fixture
def registries() -> Registries:
    # Built-ins plus this distribution's plugin, found through its installed entry point.
    return Registries(build_manager(["esper.runners.ray"], autoload=False, strict=True))
