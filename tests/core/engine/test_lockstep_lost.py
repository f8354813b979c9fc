"""The lock-step loop's seams for runners whose environments live elsewhere: lost environments.

A runner's ``advance`` may report environments as lost (their worker died while training) and
its ``execute`` may hand back None for one (it died while acting). Either way the episode is
truncated after its last rewarded step, bootstraps from the best value the loop has, is never
a true terminal, and is counted; the other environments go on as if nothing happened.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from esper.config import resolve
from esper.contracts.actions import Action
from esper.contracts.runner import RolloutJob
from esper.contracts.trainable import Decision
from esper.engine.environment import Environment, EpochResult
from esper.engine.lockstep import LockstepLoop, advance_in_turn
from esper.recipes.train import TrainingRun
from esper.registry import Registries
from esper.rundir.session import RunSession

EPOCHS = 4


@pytest.fixture
def run(esper_manager: Any, tmp_path: Path) -> TrainingRun:
    registries = Registries(esper_manager)
    config = resolve(
        registries,
        overrides=[
            "task.train_size=128",
            "task.val_size=64",
            "run.batches_per_epoch=1",
            "policy.hidden_dim=16",
            "policy.feature_dim=16",
            "policy.validate=false",
            f"run.out={json.dumps(str(tmp_path))}",
            f"run.epochs={EPOCHS}",
            "train.episodes=2",
            "train.envs=2",
            "policy.name='lstm'",
            "agent.name='ppo'",
            "reward.name='contribution'",
            "runner.name='vectorized'",
            "telemetry.sinks=[]",
        ],
    )
    session = RunSession(registries.manager, config, command="train")
    return TrainingRun.build(config, registries, session)


def _job(run: TrainingRun, events: list[Any]) -> tuple[RolloutJob, list[Decision]]:
    """A job whose policy also records every batched decision it makes."""
    decisions: list[Decision] = []
    act = run.policy.act

    def recording_act(*args: Any, **kwargs: Any) -> Decision:
        decision = act(*args, **kwargs)
        decisions.append(decision)
        return decision

    run.policy.act = recording_act  # type: ignore[method-assign]
    run.buffer.reset()
    job = RolloutJob(
        factory=run.factory,
        seeds=[7, 8],
        policy=run.policy,
        rewards=run._rewards(),
        buffer=run.buffer,
        emit=events.append,
    )
    return job, decisions


def _loop(
    job: RolloutJob,
    *,
    lose_observing: tuple[int, int] | None = None,
    lose_acting: tuple[int, int] | None = None,
) -> LockstepLoop[Environment]:
    """A loop that loses env ``i`` while observing (or acting in) its epoch ``e`` (1-based)."""

    def advance(envs: Sequence[Environment]) -> list[int]:
        lost = []
        keep = []
        for j, env in enumerate(envs):
            if lose_observing is not None and (env.env_id, env.epoch + 1) == lose_observing:
                lost.append(j)
            else:
                keep.append(env)
        advance_in_turn(keep)
        return lost

    def execute(
        envs: Sequence[Environment], actions: Sequence[Action]
    ) -> Iterator[EpochResult | None]:
        for env, action in zip(envs, actions, strict=True):
            if lose_acting is not None and (env.env_id, env.epoch) == lose_acting:
                yield None
            else:
                yield env.act(action)

    return LockstepLoop(job, advance, execute)


def _envs(job: RolloutJob) -> list[Environment]:
    return [job.factory(i, s) for i, s in enumerate(job.seeds)]


def test_an_environment_lost_while_observing_is_truncated_and_bootstraps(run: TrainingRun) -> None:
    events: list[Any] = []
    job, _ = _job(run, events)
    torch.manual_seed(0)
    results = _loop(job, lose_observing=(0, 3)).run(_envs(job), [0, 1])
    buf = run.buffer
    assert buf.lengths == [2, EPOCHS]
    assert buf.ended == [True, True]
    assert not bool(buf.terminal.any())  # a loss is never a true terminal
    assert buf.valid[0].tolist() == [True, True, False, False]
    # V(s_3) never arrived: the last recorded estimate V(s_2) stands in.
    assert buf.bootstrap[0].item() == buf.values[0, 1].item()
    assert [r.lost for r in results] == [True, False]
    assert [r.epochs for r in results] == [2, EPOCHS]
    assert sum(results[0].actions.values()) == 2
    finished = [e for e in events if e.type == "train.episode"]
    assert [(e.env_id, e.lost, e.rolled_back) for e in finished] == [
        (0, True, False),
        (1, False, False),
    ]


def test_an_environment_lost_while_acting_drops_that_step(run: TrainingRun) -> None:
    job, decisions = _job(run, [])
    torch.manual_seed(0)
    results = _loop(job, lose_acting=(1, 3)).run(_envs(job), [0, 1])
    buf = run.buffer
    assert buf.lengths == [EPOCHS, 2]
    assert buf.valid[1].tolist() == [True, True, False, False]
    assert buf.rewards[1, 2:].tolist() == [0.0, 0.0]
    # The lost step's decision valued s_3: exactly the bootstrap truncating after step 2 needs.
    assert buf.bootstrap[1].item() == decisions[2].step.value[1].item()
    assert [r.lost for r in results] == [False, True]
    # The survivor's row is complete and its final state bootstrapped as usual.
    assert buf.valid[0].all()
    assert buf.bootstrap[0].item() == decisions[-1].step.value[0].item()


def test_a_loss_before_any_rewarded_step_leaves_the_row_empty(run: TrainingRun) -> None:
    job, _ = _job(run, [])
    torch.manual_seed(0)
    results = _loop(job, lose_acting=(0, 1)).run(_envs(job), [0, 1])
    buf = run.buffer
    assert buf.lengths == [0, EPOCHS]
    assert not bool(buf.valid[0].any())
    assert [r.lost for r in results] == [True, False]
    assert math.isnan(results[0].val_accuracy)
    # The agent learns from what is left.
    metrics = run.agent.update(buf)
    assert all(math.isfinite(v) for v in metrics.values())


def test_a_loop_without_losses_is_unchanged_by_the_seams(run: TrainingRun) -> None:
    job, _ = _job(run, [])
    torch.manual_seed(0)
    plain = LockstepLoop(job).run(_envs(job), [0, 1])
    actions, rewards = run.buffer.actions.clone(), run.buffer.rewards.clone()
    job2, _ = _job(run, [])
    torch.manual_seed(0)
    seamed = _loop(job2).run(_envs(job2), [0, 1])
    assert torch.equal(actions, run.buffer.actions)
    assert torch.equal(rewards, run.buffer.rewards)
    assert [r.lost for r in seamed] == [False, False]
    assert [r.reward for r in plain] == [r.reward for r in seamed]
