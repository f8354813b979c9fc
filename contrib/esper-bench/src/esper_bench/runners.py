"""Runners: one update's episodes with the vectorized runner vs the sequential one.

Both play the same 4 episodes (same seeds, same policy) of the embedded image task; the
vectorized runner steps them in lock-step with one batched policy call per epoch (and, on
CUDA, one stream per environment), the sequential runner plays them one after another.

On a CPU both runners run every environment in one process, one after another; lock-step
only batches the policy calls, a small share of an epoch. The second figure shows where a CPU
speed-up would have to come from: how much faster one environment's training epoch runs with
all intra-op threads than with one. Little faster means one environment leaves cores idle,
which only environments in separate processes (one thread each) would use.
"""

from __future__ import annotations

import functools
import tempfile
from typing import Any

import torch
from esper.config import resolve
from esper.registry import Registries
from esper.registry.manager import build_manager

from esper_bench.suite import Figure, benchmark
from esper_bench.timing import compare, ratio

ENVS = 4


def _training_run(runner: str, out: str) -> Any:
    from esper.recipes.train import TrainingRun
    from esper.rundir.session import RunSession

    registries = Registries(build_manager(autoload=False))
    config = resolve(
        registries,
        overrides=[
            "task.train_size=1536",
            "task.val_size=256",
            "run.epochs=3",
            f"train.envs={ENVS}",
            f"train.episodes={ENVS}",
            "policy.name='lstm'",
            "policy.validate=false",
            "agent.name='ppo'",
            "reward.name='contribution'",
            f"runner.name='{runner}'",
            f"run.out='{out}'",
        ],
    )
    return TrainingRun.build(
        config, registries, RunSession(registries.manager, config, command="train")
    )


@benchmark("runners")
def runners(quick: bool) -> list[Figure]:
    from esper.contracts.runner import RolloutJob

    with tempfile.TemporaryDirectory() as out:
        runs = {name: _training_run(name, out) for name in ("vectorized", "sequential")}
        # Both runners act with the same controller.
        weights = runs["vectorized"].policy.network.state_dict()
        runs["sequential"].policy.network.load_state_dict(weights)

        def collect(name: str) -> None:
            run = runs[name]
            run.buffer.reset()
            run.runner.collect(
                RolloutJob(
                    factory=run.factory,
                    seeds=run.seeds(0),
                    policy=run.policy,
                    rewards=run._rewards(),
                    buffer=run.buffer,
                )
            )

        timings = compare(
            {name: functools.partial(collect, name) for name in runs},
            repeats=2 if quick else 4,
            warmup=1,
        )
        env = runs["vectorized"].factory(0, 0)
        threads = torch.get_num_threads()

        def epoch_with(n: int) -> None:
            torch.set_num_threads(n)
            try:
                env.train_epoch()
            finally:
                torch.set_num_threads(threads)

        scaling = compare(
            {"one": lambda: epoch_with(1), "all": lambda: epoch_with(threads)},
            repeats=3 if quick else 7,
            warmup=1,
        )
    return [
        Figure(
            name=f"one update's {ENVS} episodes: sequential runner / vectorized runner (speed-up)",
            value=ratio(timings, "sequential", "vectorized"),
            unit="x",
            goal=">= 1.5",
            detail={
                "vectorized_median_s": timings["vectorized"].median_s,
                "sequential_median_s": timings["sequential"].median_s,
                "device": "cpu",
            },
        ),
        Figure(
            name=f"one training epoch: 1 intra-op thread / {threads} threads (how well one env uses the cores)",
            value=ratio(scaling, "one", "all"),
            unit="x",
            detail={"threads": threads},
        ),
    ]
