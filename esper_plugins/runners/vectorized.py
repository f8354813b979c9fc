"""``esper.runners.vectorized``: all environments step together.

Every epoch each environment trains and evaluates; then the policy decides for all of them
in one batched call. On CUDA each environment owns a stream
(`esper.engine.environment.Environment` with ``use_stream``) and the runner interleaves them
batch by batch — one batch of environment 0, one of environment 1, ... — so the GPU works on
several hosts' kernels at once; every environment's device-to-host transfer waits until its
epoch's last step. On a CPU the same code runs without streams.

Stream safety: each environment's stream first waits for the default stream (where the
shared data and the environment's initial weights were written), and everything the
environment allocates afterwards (batches, which are copies made by indexing, activations,
new seeds) is allocated and used on its own stream. No tensor is handed from one stream to
another while work on it is pending: the epoch ends with a transfer that waits for the
stream. So no ``record_stream`` is needed; a runner that did hand tensors across streams
(e.g. prefetching batches on a side stream) would have to call it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from esper.plugin import Environment, EpisodeResult, LockstepLoop, RolloutJob, Runner
from esper_plugins.runners.config import VectorizedConfig


def advance_interleaved(envs: Sequence[Environment]) -> None:
    """Round-robin over the environments' training batches until every epoch half is done."""
    live: list[Iterator[None]] = [env.observe_steps() for env in envs]
    while live:
        still = []
        for steps in live:
            if next(steps, StopIteration) is not StopIteration:
                still.append(steps)
        live = still


class VectorizedRunner(Runner):
    def __init__(self, config: VectorizedConfig | None = None) -> None:
        self.config = config or VectorizedConfig()

    def collect(self, job: RolloutJob) -> list[EpisodeResult]:
        envs = [job.factory(row, seed, use_stream=True) for row, seed in enumerate(job.seeds)]
        if self.config.interleave:
            loop = LockstepLoop(job, advance_interleaved)
        else:
            loop = LockstepLoop(job)
        return loop.run(envs, list(range(len(envs))))
