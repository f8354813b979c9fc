"""Same seed, same policy: the ray runner reproduces the vectorized runner bit for bit.

Decisions are made in the driver by the same batched policy calls from the same random
stream, and every environment draws from streams of its own, so the rollouts, and hence the
PPO updates, are identical, provided the actors compute with as many torch threads as the
vectorized run did (CPU reductions round differently with other thread counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from esper.registry import Registries
from helpers import config_for, events_of, train, weights

#: Fields that legitimately differ between two runs (timestamps, ids, the runner's name).
VOLATILE = {"ts", "run_id", "config", "wall_time_s"}


def _comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in e.items() if k not in VOLATILE}
        for e in events
        if not e["type"].startswith("run.")
    ]


def _pair(registries: Registries, tmp_path: Path, *extra: str) -> tuple[Any, Any]:
    threads = torch.get_num_threads()
    common = ["run.epochs=3", "train.episodes=4", "train.envs=2", *extra]
    vectorized = train(registries, config_for(registries, tmp_path / "vec", "vectorized", *common))
    ray_run = train(
        registries,
        config_for(registries, tmp_path / "ray", "ray", *common, f"runner.torch_threads={threads}"),
    )
    return vectorized, ray_run


@pytest.mark.usefixtures("local_ray")
def test_same_seed_gives_the_vectorized_runners_policy_bit_for_bit(
    registries: Registries, tmp_path: Path
) -> None:
    vectorized, ray_run = _pair(registries, tmp_path)
    assert ray_run.update == vectorized.update == 2
    a, b = weights(vectorized), weights(ray_run)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # Not just the end point: every event (epochs, seed transitions, episodes, updates) is the
    # same, in the same order.
    va, ra = _comparable(events_of(vectorized)), _comparable(events_of(ray_run))
    assert len(va) == len(ra) > 20
    assert va == ra
    assert [h["actions"] for h in vectorized.history] == [h["actions"] for h in ray_run.history]
    assert ray_run.runner.lost_episodes == 0


@pytest.mark.usefixtures("local_ray")
def test_a_nan_is_the_environments_governors_business_not_the_clusters(
    registries: Registries, tmp_path: Path
) -> None:
    # A learning rate of 1e6 blows every host up within three full epochs (cheap ones, with
    # a batch each, may not): the governor in each actor rolls its host back and ends the
    # episode as a true terminal, as in-process.
    vectorized, ray_run = _pair(registries, tmp_path, "task.host_lr=1e6", "train.cheap_share=0")
    events = events_of(ray_run)
    rollbacks = [e for e in events if e["type"] == "governor.rollback"]
    assert len(rollbacks) >= 4  # one per episode, relayed from the actors
    episodes = [e for e in events if e["type"] == "train.episode"]
    assert [e["env_id"] for e in episodes] == [0, 1, 0, 1]
    assert all(e["rolled_back"] and not e["lost"] for e in episodes)
    assert not [e for e in events if e["type"] == "runner.actor_lost"]
    assert ray_run.runner.lost_episodes == 0
    a, b = weights(vectorized), weights(ray_run)
    assert all(torch.equal(a[k], b[k]) for k in a)
