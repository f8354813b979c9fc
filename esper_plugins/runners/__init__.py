"""``esper.runners``: the built-in runners (hook module only; no torch import).

* ``sequential`` — the simple reference: one environment at a time, the policy acting for
  one environment per call.
* ``vectorized`` — all environments step together: the policy decides for all of them in
  one batched call, and on CUDA each environment trains on its own stream, interleaved batch
  by batch, so their kernels overlap on one GPU.
"""

from __future__ import annotations

from collections.abc import Iterator

from esper.plugin import RunnerSpec, hookimpl


@hookimpl
def esper_runners() -> Iterator[RunnerSpec]:
    yield RunnerSpec(
        name="sequential",
        factory="esper_plugins.runners.sequential:SequentialRunner",
        summary="One environment at a time: the simple reference runner.",
    )
    yield RunnerSpec(
        name="vectorized",
        tags=("train-default",),
        factory="esper_plugins.runners.vectorized:VectorizedRunner",
        config_cls="esper_plugins.runners.config:VectorizedConfig",
        summary="All environments in lock-step: batched policy inference, one CUDA stream per environment.",
    )
