"""`esper train`: the training loop, runners, checkpoints, determinism and the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from esper.contracts.actions import Action, Op
from esper.contracts.policy import Policy
from esper.contracts.reward import RewardBreakdown, RewardContext, RewardFunction
from esper.contracts.runner import RolloutJob
from esper.engine.lockstep import LockstepLoop
from esper.recipes.train import CHECKPOINT_NAME, TrainingRun
from esper.registry import Registries
from esper.rundir.session import RunSession
from esper_plugins.runners.vectorized import advance_interleaved

from support.cli import esper
from support.training import SMALL, small_config, train


def weights(run: TrainingRun) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in run.policy.network.state_dict().items()}


def test_training_writes_checkpoint_summary_and_fills_the_buffer(
    registries: Registries, tmp_path: Path
) -> None:
    run = train(registries, small_config(registries, tmp_path))
    assert run.update == 2
    run_dir = run.session.run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["episodes"] == 4
    assert summary["updates"] == 2
    assert [h["update"] for h in summary["history"]] == [0, 1]
    # Host-training FLOPs of every episode, per update and over the run.
    assert summary["flops_train"] == sum(h["flops_train"] for h in summary["history"])
    # The controller's decisions apart: one network step per env-epoch.
    per_decision = run.policy.decision_flops()
    assert per_decision > 0
    assert summary["flops_control"] == 2 * 2 * 3 * per_decision
    for record in summary["history"]:
        assert record["episodes"] == 2
        assert record["flops_train"] > 0
        assert record["flops_control"] == 2 * 3 * per_decision
        assert 0.0 <= record["mean_accuracy"] <= 100.0
        assert math.isfinite(record["mean_reward"])
        assert sum(record["actions"].values()) == 2 * 3  # one action per env-epoch
        assert "approx_kl" in record["metrics"]
        assert "explained_variance" in record["metrics"]
    # The last update's rollout: two full episodes of three steps, truncated by the time limit.
    assert run.buffer.lengths == [3, 3]
    assert not bool(run.buffer.terminal.any())
    state = torch.load(run_dir / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    assert state["update"] == 2
    assert "network" in state
    assert "agent" in state
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["update"] for e in events if e["type"] == "train.update"] == [0, 1]
    episodes = [e for e in events if e["type"] == "train.episode"]
    assert sorted(e["env_id"] for e in episodes) == [0, 0, 1, 1]
    assert {e["epochs"] for e in episodes} == {3}


def test_same_seed_gives_identical_policy_weights(registries: Registries, tmp_path: Path) -> None:
    a = weights(train(registries, small_config(registries, tmp_path / "a")))
    b = weights(train(registries, small_config(registries, tmp_path / "b")))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    c = weights(train(registries, small_config(registries, tmp_path / "c", "run.seed=7")))
    assert any(not torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("share", ["0", "1"])
def test_resume_from_a_policy_checkpoint_reaches_the_same_weights(
    registries: Registries, tmp_path: Path, share: str
) -> None:
    # The curriculum is a share of the run's updates, so a run stopped early by a smaller
    # budget would play other cheap updates; with every update full, or every one cheap,
    # the runs are the same.
    flat = f"train.cheap_share={share}"
    full = weights(train(registries, small_config(registries, tmp_path / "full", flat)))
    # Stop after the first update (as if killed), then resume with the full episode budget.
    first = train(registries, small_config(registries, tmp_path / "part", flat, "train.episodes=2"))
    run_dir = first.session.run_dir
    resumed = train(
        registries,
        small_config(registries, tmp_path / "part", flat, "train.episodes=4"),
        resume=run_dir,
    )
    assert resumed.update == 2
    assert [h["update"] for h in resumed.history] == [0, 1]
    events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
    (resume,) = [e for e in events if e["type"] == "run.resumed"]
    assert resume["position"] == 1
    assert resume["checkpoint"].endswith(CHECKPOINT_NAME)
    for key, value in weights(resumed).items():
        assert torch.equal(value, full[key]), key


class RecordingReward(RewardFunction):
    """Reward = epoch number, so the buffer's contents can be checked exactly."""

    def __init__(self) -> None:
        self.contexts: list[RewardContext] = []

    def __call__(self, context: RewardContext) -> RewardBreakdown:
        self.contexts.append(context)
        # A ratio penalty at epoch 2: the loop reports it as a reward-gaming suspicion.
        penalty = -0.5 if context.epoch == 2 else 0.0
        return RewardBreakdown(components={"epoch": float(context.epoch), "ratio_penalty": penalty})


def _job(run: TrainingRun, seeds: list[int]) -> tuple[RolloutJob, list[RecordingReward]]:
    rewards = [RecordingReward() for _ in seeds]
    run.buffer.reset()
    job = RolloutJob(
        factory=run.factory, seeds=seeds, policy=run.policy, rewards=rewards, buffer=run.buffer
    )
    return job, rewards


def build_run(registries: Registries, tmp_path: Path, *extra: str) -> TrainingRun:
    config = small_config(registries, tmp_path, *extra)
    session = RunSession(registries.manager, config, command="train")
    return TrainingRun.build(config, registries, session)


def test_lockstep_loop_records_rewards_actions_and_bootstrap(
    registries: Registries, tmp_path: Path
) -> None:
    run = build_run(registries, tmp_path)
    job, rewards = _job(run, [11, 12])
    events: list[Any] = []
    job.emit = events.append
    torch.manual_seed(0)
    episodes = run.runner.collect(job)
    buf = run.buffer
    assert buf.lengths == [3, 3]
    assert buf.rewards[:, :3].tolist() == [[1.0, 1.5, 3.0], [1.0, 1.5, 3.0]]
    suspected = [e for e in events if e.type == "reward.hacking_suspected"]
    assert [(e.env_id, e.epoch, e.kind) for e in suspected] == [
        (0, 2, "ratio_penalty"),
        (1, 2, "ratio_penalty"),
    ]
    outcomes = [e for e in events if e.type == "train.episode"]
    assert [(e.env_id, e.seed, e.epochs) for e in outcomes] == [(0, 11, 3), (1, 12, 3)]
    assert [e.reward for e in outcomes] == [pytest.approx(5.5)] * 2
    assert bool((buf.log_probs[:, :3] <= 0).all())
    for e, reward in enumerate(rewards):
        assert [c.epoch for c in reward.contexts] == [1, 2, 3]
        assert reward.contexts[-1].terminal
        assert not reward.contexts[0].terminal
        assert episodes[e].reward == pytest.approx(5.5)
        assert sum(episodes[e].actions.values()) == 3
    assert bool(torch.isfinite(buf.bootstrap[:2]).all())


def test_interleaved_and_in_turn_environments_give_identical_rollouts(
    registries: Registries, tmp_path: Path
) -> None:
    results = []
    for interleave in (True, False):
        run = build_run(
            registries, tmp_path / str(interleave), f"runner.interleave={str(interleave).lower()}"
        )
        job, _ = _job(run, [21, 22])
        torch.manual_seed(3)
        episodes = run.runner.collect(job)
        results.append(
            (
                [e.val_accuracy for e in episodes],
                run.buffer.actions.clone(),
                run.buffer.values.clone(),
            )
        )
    assert results[0][0] == results[1][0]
    assert torch.equal(results[0][1], results[1][1])
    assert torch.equal(results[0][2], results[1][2])


def test_sequential_runner_equals_vectorized_for_one_environment(
    registries: Registries, tmp_path: Path
) -> None:
    out = []
    for runner in ("sequential", "vectorized"):
        run = build_run(registries, tmp_path / runner, f"runner.name='{runner}'", "train.envs=1")
        job, _ = _job(run, [31])
        torch.manual_seed(5)
        episodes = run.runner.collect(job)
        out.append((episodes[0].val_accuracy, run.buffer.actions.clone()))
    assert out[0][0] == out[1][0]
    assert torch.equal(out[0][1], out[1][1])


def test_governor_rollback_ends_the_episode_as_a_true_terminal(
    registries: Registries, tmp_path: Path
) -> None:
    run = build_run(registries, tmp_path, "run.epochs=4")
    job, _ = _job(run, [41, 42])
    poisoned = []

    def advance(envs: Any) -> None:
        for env in envs:
            if env.seed == 41 and env.epoch == 2:
                with torch.no_grad():  # the next validation loss is NaN: the governor panics
                    for p in env.model.host_parameters():
                        p.fill_(float("nan"))
                poisoned.append(env.epoch)
        advance_interleaved(envs)

    torch.manual_seed(0)
    episodes = LockstepLoop(job, advance).run(
        [job.factory(i, s) for i, s in enumerate(job.seeds)], [0, 1]
    )
    assert poisoned == [2]
    buf = run.buffer
    assert buf.lengths == [2, 4]
    assert buf.terminal[0].tolist() == [False, True, False, False]
    assert not bool(buf.terminal[1].any())
    assert episodes[0].rolled_back
    assert not episodes[1].rolled_back
    assert buf.valid[0].tolist() == [True, True, False, False]


def test_environment_step_equals_observe_then_act(registries: Registries, tmp_path: Path) -> None:
    run = build_run(registries, tmp_path)
    a, b = run.factory(0, 99), run.factory(0, 99)
    germinate = Action(op=Op.GERMINATE, slot=a.model.slot_ids[0], blueprint="conv_light")
    for epoch in range(3):
        observed = a.observe()
        ra = a.act(germinate if epoch == 0 else Action())
        b.policy = _Scripted([germinate, Action(), Action()])  # type: ignore[assignment]
        rb = b.step() if epoch == 0 else _step_with(b, Action())
        assert observed.val_accuracy == ra.val_accuracy
        assert (ra.val_loss, ra.val_accuracy, ra.train_loss) == (
            rb.val_loss,
            rb.val_accuracy,
            rb.train_loss,
        )
        assert ra.action_ok
        assert rb.action_ok
    assert a.peek_signals().slots[0].stage.name == b.peek_signals().slots[0].stage.name


class _Scripted(Policy):
    def __init__(self, actions: list[Action]) -> None:
        self.actions = list(actions)

    def decide(self, signals: Any) -> Action:
        return self.actions.pop(0)


def _step_with(env: Any, action: Action) -> Any:
    env.observe()
    return env.act(action)


# -- the command line ---------------------------------------------------------------------------


def _sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def test_cli_train_then_run_with_the_trained_controller(tmp_path: Path) -> None:
    proc = esper(
        "train",
        "--episodes",
        "2",
        "--envs",
        "2",
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        *_sets(SMALL),
    )
    assert proc.returncode == 0, proc.stderr
    run_dir = next(tmp_path.glob("*/policy.pt")).parent
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["command"] == "train"
    assert summary["episodes"] == 2
    assert "update 1:" in proc.stderr
    # `esper resume` recognises a training run and continues it (here: nothing left to do).
    proc = esper("resume", str(run_dir), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "after update 1" in proc.stderr
    assert "trained 2 episodes in 1 updates" in proc.stdout
    proc = esper(
        "run",
        "--policy-checkpoint",
        str(run_dir / "policy.pt"),
        "--epochs",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "eval"),
        *_sets(["task.train_size=256", "task.val_size=128", "run.batches_per_epoch=2"]),
    )
    assert proc.returncode == 0, proc.stderr
    used = json.loads(next((tmp_path / "eval").glob("*/summary.json")).read_text())
    assert used["policy"] == "esper.policies.lstm:lstm"


def test_cli_pbrs_gamma_mismatch_is_a_config_error(tmp_path: Path) -> None:
    proc = esper(
        "train",
        "--episodes",
        "1",
        "--envs",
        "1",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        "--set",
        "reward.gamma=0.9",
        *_sets(SMALL),
    )
    assert proc.returncode == 2, proc.stderr
    assert "config.reward" in proc.stderr
    assert "Ng et al., 1999" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_train_rejects_a_controller_that_cannot_learn(tmp_path: Path) -> None:
    proc = esper("train", "--policy", "heuristic", "--episodes", "1", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "config.policy" in proc.stderr
    assert "not trainable" in proc.stderr
    assert "Traceback" not in proc.stderr
