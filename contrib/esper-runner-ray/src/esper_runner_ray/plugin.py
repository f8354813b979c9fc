"""Hook implementations: the module the ``esper.plugins`` entry point names.

esper imports this module for every command, so it imports neither ray nor torch: the runner
is named by a lazy string and imported only when ``esper train`` selects it. The event module
is imported (attrs only), so that ``runner.actor_lost`` lines read back as typed records.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import RunnerSpec, hookimpl

from esper_runner_ray import events as _events  # noqa: F401  (registers runner.actor_lost)


@hookimpl
def esper_runners() -> Iterator[RunnerSpec]:
    yield RunnerSpec(
        name="ray",
        factory="esper_runner_ray.runner:RayRunner",
        config_cls="esper_runner_ray.config:RayRunnerConfig",
        summary="Each environment in a Ray actor (fractional CPUs/GPUs, restarts); policy and learner in the driver.",
    )
