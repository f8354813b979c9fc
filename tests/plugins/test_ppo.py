"""The PPO agent: PPO math (invariant 24), numerical guards (T1-3, T2-7), learning, checkpoints."""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import esper
import esper_plugins
from esper.contracts.actions import Op
from esper.contracts.agent import Agent
from esper.growth.catalog import BlueprintCatalog
from esper.lifecycle import Stage
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.rl.action_space import HEADS
from esper.rl.observation import feature_size
from esper.rl.rollout import RolloutBuffer
from esper_plugins.agents.config import PPOConfig
from esper_plugins.agents.ppo import (
    PPOAgent,
    PPOError,
    advantage_spread,
    approx_kl,
    clipped_surrogate,
    explained_variance,
    head_ratios,
)
from esper_plugins.policies.config import LSTMConfig
from esper_plugins.policies.lstm import LSTMPolicy

from support.signals import signals, view

SLOTS = ("r0c0", "r0c1", "r0c2")
log_probs = st.floats(-100.0, 0.0, allow_nan=False)


@pytest.fixture(scope="module")
def catalog(registries) -> BlueprintCatalog:
    return BlueprintCatalog(registries["blueprints"], "cnn")


def small_policy(catalog) -> LSTMPolicy:
    policy = LSTMPolicy(LSTMConfig(hidden_dim=16, feature_dim=16), catalog=catalog)
    policy.build(SLOTS)
    return policy


def env_signals(catalog, env: int, epoch: int):
    stages = [Stage.DORMANT, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.GERMINATED]
    views = [
        view(
            sid,
            stages[(env + epoch + k) % len(stages)],
            blueprint=catalog.ids[(env + k) % len(catalog)],
            alpha_holding=(epoch + k) % 2 == 0,
            epochs_total=epoch,
        )
        for k, sid in enumerate(SLOTS)
    ]
    return signals(views, epoch=epoch, max_epochs=12, val_accuracy=20.0 + epoch)


def collect(policy, catalog, envs=4, steps=10, *, seed=0, reward=None, terminal_env=None):
    """A real rollout of ``policy``; reward(actions_row) -> float (default: random)."""
    torch.manual_seed(seed)
    buf = RolloutBuffer(
        envs=envs, steps=steps, space=policy.space, obs_size=feature_size(len(SLOTS))
    )
    g = torch.Generator().manual_seed(seed)
    hidden = None
    for t in range(steps):
        d = policy.act([env_signals(catalog, e, t) for e in range(envs)], hidden)
        hidden = d.step.hidden
        buf.record(range(envs), t, d)
        rows = d.step.actions.tolist()
        if reward is None:
            r = torch.randn(envs, generator=g).tolist()
        else:
            r = [reward(row) for row in rows]
        buf.set_rewards(range(envs), t, r)
    for e in range(envs):
        if e == terminal_env:
            buf.end_episode(e, steps // 2, terminal=True)
        else:
            buf.end_episode(e, steps - 1, terminal=False)
    buf.set_bootstrap(list(range(envs)), torch.zeros(envs))
    return buf


def weights(policy) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in policy.network.state_dict().items()}


def same(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


# -- PPO math (invariant 24) -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(new=log_probs, old=log_probs)
def test_ratio_is_positive_and_finite_for_any_log_prob_gap(new, old) -> None:
    ratio, log_ratio = head_ratios(torch.tensor([new]), torch.tensor([old]), 20.0)
    assert (ratio > 0).all()
    assert torch.isfinite(ratio).all()
    assert ratio.item() <= math.exp(20.0) * (1 + 1e-6)
    assert abs(log_ratio.item()) <= 20.0
    if abs(new - old) < 20:
        assert ratio.item() == pytest.approx(math.exp(new - old), rel=1e-4)


@settings(max_examples=200, deadline=None)
@given(
    ratio=st.floats(1e-6, 1e6),
    adv=st.floats(-100, 100, allow_nan=False),
    clip=st.floats(0.05, 0.5),
)
def test_clipped_surrogate_is_pessimistic(ratio, adv, clip) -> None:
    r, a = torch.tensor([ratio], dtype=torch.float64), torch.tensor([adv], dtype=torch.float64)
    s = clipped_surrogate(r, a, clip).item()
    unclipped = ratio * adv
    clipped = min(max(ratio, 1 - clip), 1 + clip) * adv
    assert s <= unclipped + 1e-9 * abs(unclipped)
    assert s <= clipped + 1e-9 * abs(clipped)
    assert s == pytest.approx(min(unclipped, clipped))


@settings(max_examples=200, deadline=None)
@given(new=log_probs, old=log_probs)
def test_approx_kl_is_nonnegative_and_zero_for_equal_policies(new, old) -> None:
    _, log_ratio = head_ratios(torch.tensor([new]), torch.tensor([old]), 20.0)
    assert approx_kl(log_ratio).item() >= 0.0
    _, log_ratio = head_ratios(torch.tensor([new]), torch.tensor([new]), 20.0)
    assert approx_kl(log_ratio).item() == 0.0


@settings(max_examples=50, deadline=None)
@given(gaps=st.lists(st.floats(-5, 5), min_size=len(HEADS), max_size=len(HEADS)))
def test_joint_ratio_is_the_product_of_head_ratios(gaps) -> None:
    new = torch.tensor(gaps, dtype=torch.float64)
    ratio, _ = head_ratios(new, torch.zeros_like(new), 20.0)
    assert ratio.prod().item() == pytest.approx(math.exp(sum(gaps)), rel=1e-9)


def test_explained_variance() -> None:
    returns = torch.tensor([[1.0, 2.0, 3.0, 99.0]])
    mask = torch.tensor([[True, True, True, False]])
    assert explained_variance(returns, returns, mask).item() == pytest.approx(1.0)
    assert explained_variance(
        torch.zeros_like(returns) + 2.0, returns, mask
    ).item() == pytest.approx(0.0)
    const = torch.ones(1, 4)
    assert explained_variance(torch.zeros(1, 4), const, mask).item() == 0.0


# -- review T1-3: the log-ratio clamp -----------------------------------------------------------


def test_huge_log_prob_gap_overflows_without_the_clamp_and_not_with_it() -> None:
    new, old = torch.tensor([0.0, -1.0]), torch.tensor([-100.0, -1.0])
    advantages = torch.tensor([0.0, 1.0])
    naive = torch.exp(new - old)
    assert torch.isinf(naive[0])  # exp(100) overflows float32
    naive_loss = -(clipped_surrogate(naive, advantages, 0.2) * torch.tensor([1.0, 1.0])).mean()
    assert torch.isnan(naive_loss)  # inf * 0 advantage
    ratio, _ = head_ratios(new, old, 20.0)
    assert torch.isfinite(ratio).all()
    assert ratio[0].item() == pytest.approx(math.exp(20.0), rel=1e-5)
    loss = -(clipped_surrogate(ratio, advantages, 0.2)).mean()
    assert torch.isfinite(loss)


def test_an_update_with_a_huge_stored_log_prob_gap_stays_finite(catalog) -> None:
    policy = small_policy(catalog)
    buf = collect(policy, catalog)
    buf.log_probs[..., 0] = torch.where(buf.valid, -100.0, 0.0)  # the op head: always relevant
    agent = PPOAgent(PPOConfig(target_kl=None), policy=policy)
    before = weights(policy)
    metrics = agent.update(buf)
    assert metrics["skipped"] == 0.0
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["ratio_max"] == pytest.approx(math.exp(20.0), rel=1e-4)
    assert metrics["clip_fraction"] > 0
    after = weights(policy)
    assert not same(before, after)
    assert all(torch.isfinite(v).all() for v in after.values())
    # With the KL target on, the same rollout stops before any backward pass.
    policy2 = small_policy(catalog)
    stopped = PPOAgent(PPOConfig(), policy=policy2).update(buf)
    assert stopped["early_stopped"] == 1.0
    assert stopped["approx_kl"] > 0.0225
    assert same(weights(policy2), before)


# -- review T2-7: explained variance is pre-update --------------------------------------------


def test_reported_explained_variance_is_the_pre_update_one(catalog) -> None:
    policy = small_policy(catalog)
    buf = collect(policy, catalog, seed=3)
    config = PPOConfig(lr=3e-2, epochs=10, target_kl=None, value_coef=2.0, value_coef_warmup=0)
    # The expected numbers, from a twin agent that has not updated anything.
    twin = PPOAgent(config, policy=policy)
    rewards = twin.process_rewards(buf)
    values = twin.value_normalizer.denormalize(buf.values)
    _, returns = buf.compute_gae(
        values,
        twin.value_normalizer.denormalize(buf.bootstrap),
        config.gamma,
        config.gae_lambda,
        rewards=rewards,
    )
    pre = explained_variance(values, returns, buf.valid).item()
    agent = PPOAgent(config, policy=policy)
    metrics = agent.update(buf)
    with torch.no_grad():
        post_values = policy.evaluate(buf.observations(), buf.action_masks(), buf.actions).values
    post_values = agent.value_normalizer.denormalize(post_values)
    post = explained_variance(post_values, returns, buf.valid).item()
    assert metrics["explained_variance"] == pytest.approx(pre, abs=1e-6)
    assert abs(post - pre) > 0.05  # the critic did move: the two measures differ
    assert metrics["explained_variance"] != pytest.approx(post, abs=1e-3)
    # ... and the post-update measure is reported apart.
    assert metrics["explained_variance_after"] == pytest.approx(post, abs=1e-5)


# -- learning ------------------------------------------------------------------------------------


def test_an_update_raises_the_log_prob_of_advantaged_actions(catalog) -> None:
    policy = small_policy(catalog)
    # +1 for WAIT, -1 for anything else: WAIT should become more likely.
    buf = collect(
        policy,
        catalog,
        envs=6,
        steps=10,
        reward=lambda row: 1.0 if row[0] == int(Op.WAIT) else -1.0,
    )
    config = PPOConfig(lr=1e-2, gamma=0.01, gae_lambda=0.0, target_kl=None, entropy_coef=0.0)
    agent = PPOAgent(config, policy=policy)
    obs, masks, actions = buf.observations(), buf.action_masks(), buf.actions
    with torch.no_grad():
        before = policy.evaluate(obs, masks, actions).log_probs[..., 0]
    metrics = agent.update(buf)
    with torch.no_grad():
        after = policy.evaluate(obs, masks, actions).log_probs[..., 0]
    wait = buf.valid & (actions[..., 0] == int(Op.WAIT)) & (masks.op.sum(-1) > 1)
    other = buf.valid & (actions[..., 0] != int(Op.WAIT))
    assert wait.any()
    assert other.any()
    assert (after - before)[wait].mean() > 0
    assert (after - before)[other].mean() < 0
    assert metrics["skipped"] == 0.0
    assert metrics["epochs"] == float(config.epochs)
    assert metrics["grad_norm"] > 0


def test_two_updates_from_the_same_seed_give_identical_weights(catalog) -> None:
    results = []
    for _ in range(2):
        policy = small_policy(catalog)
        agent = PPOAgent(PPOConfig(epochs=2, target_kl=None), policy=policy)
        buf = collect(policy, catalog, seed=11)
        agent.update(buf)
        agent.update(collect(policy, catalog, seed=12))
        results.append(weights(policy))
    assert same(*results)


def test_state_dict_round_trips_through_torch_load_weights_only(catalog) -> None:
    policy = small_policy(catalog)
    agent = PPOAgent(PPOConfig(target_kl=None), policy=policy)
    agent.update(collect(policy, catalog, seed=1))
    data = io.BytesIO()
    torch.save({"agent": agent.state_dict(), "policy": policy.state_dict()}, data)
    data.seek(0)
    loaded = torch.load(data, weights_only=True)
    # A fresh agent on a fresh (unbuilt) policy: the optimizer state waits for the network.
    twin_policy = LSTMPolicy(LSTMConfig(hidden_dim=16, feature_dim=16), catalog=catalog)
    twin = PPOAgent(PPOConfig(target_kl=None), policy=twin_policy)
    twin.load_state_dict(loaded["agent"])
    twin_policy.load_state_dict(loaded["policy"])
    assert twin.updates == agent.updates == 1
    assert twin.train_steps == agent.train_steps == PPOConfig().epochs
    assert twin.reward_normalizer.state_dict() == agent.reward_normalizer.state_dict()
    assert twin.value_normalizer.state_dict() == agent.value_normalizer.state_dict()
    # Both continue identically (Adam moments restored).
    buf = collect(policy, catalog, seed=2)
    agent.update(buf)
    twin.update(buf)
    assert same(weights(policy), weights(twin_policy))
    assert twin.optimizer().state_dict()["state"][0]["step"].item() == 2 * PPOConfig().epochs


# -- guards ----------------------------------------------------------------------------------------


def test_finiteness_gate_skips_without_touching_parameters(catalog) -> None:
    policy = small_policy(catalog)
    agent = PPOAgent(PPOConfig(max_consecutive_skips=2), policy=policy)
    buf = collect(policy, catalog)
    buf.values[0, 0] = math.nan
    before = weights(policy)
    metrics = agent.update(buf)
    assert metrics["skipped"] == 1.0
    assert metrics["nonfinite"] == 1.0
    assert agent.train_steps == 0
    assert same(before, weights(policy))
    with pytest.raises(PPOError, match="consecutive"):
        agent.update(buf)
    # A finite update resets the count.
    agent.consecutive_skips = 0
    assert agent.update(collect(policy, catalog, seed=4))["skipped"] == 0.0
    assert agent.consecutive_skips == 0


#: Every way a tensor's value reaches Python: on a GPU each is a device-to-host sync.
_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy")
_OURS = (str(Path(esper.__file__).parent), str(Path(esper_plugins.__file__).parent))


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patch every read on torch.Tensor; record those esper's own code makes (torch's
    internals, such as Adam reading its CPU step counter, are not syncs of ours)."""
    reads: list[str] = []
    for name in _READS:
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_code
            if caller.co_filename.startswith(_OURS):
                reads.append(f"{_name} in {Path(caller.co_filename).name}:{caller.co_name}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return reads


@pytest.mark.parametrize(("target_kl", "epochs"), [(None, 4), (1e-12, 1)])
def test_an_update_reads_the_device_epochs_plus_three_times(
    catalog, monkeypatch: pytest.MonkeyPatch, target_kl: float | None, epochs: int
) -> None:
    # The module docstring's count: the two normalisers once each, one gate per epoch run,
    # the metrics once. A tiny KL target stops the update at its first gate.
    policy = small_policy(catalog)
    buffer = collect(policy, catalog)
    agent = PPOAgent(PPOConfig(epochs=4, target_kl=target_kl), policy=policy)
    agent.update(buffer)  # first update: lazy state (optimizer, constants) is built
    reads = _count_reads(monkeypatch)
    metrics = agent.update(buffer)
    monkeypatch.undo()
    assert metrics["early_stopped"] == (1.0 if target_kl else 0.0)
    assert len(reads) == epochs + 3, reads
    gates = [r for r in reads if r.endswith("ppo.py:update")]
    assert len(gates) == epochs, reads


def test_rollback_terminal_is_penalised_and_earlier_rewards_forfeited(catalog) -> None:
    policy = small_policy(catalog)
    buf = collect(policy, catalog, envs=3, steps=8, terminal_env=1)
    agent = PPOAgent(PPOConfig(rollback_penalty=10.0), policy=policy)
    rewards = agent.process_rewards(buf)
    last = 8 // 2
    assert rewards[1, last].item() == -10.0
    assert (rewards[1, :last] == 0).all()
    assert (rewards[1, last + 1 :] == 0).all()  # padding
    std = agent.reward_normalizer.std
    expected = (buf.rewards[0] / std).clamp(-10, 10)
    torch.testing.assert_close(rewards[0], expected)
    assert agent.reward_normalizer.count == int(buf.valid.sum())
    keep = PPOAgent(PPOConfig(forfeit_on_rollback=False), policy=policy).process_rewards(buf)
    assert (keep[1, :last] != 0).any()


def test_value_coef_warms_up_from_a_tenth(catalog) -> None:
    agent = PPOAgent(PPOConfig(value_coef=0.5, value_coef_warmup=10), policy=small_policy(catalog))
    assert agent.value_coef() == pytest.approx(0.05)
    agent.updates = 5
    assert agent.value_coef() == pytest.approx(0.5 * (0.1 + 0.9 * 0.5))
    agent.updates = 50
    assert agent.value_coef() == pytest.approx(0.5)


def test_entropy_anneal_and_floor_schedule() -> None:
    config = PPOConfig(
        entropy_coef=0.05,
        entropy_coef_final=0.01,
        entropy_anneal_updates=10,
        entropy_floor_schedule=100,
    )
    assert config.entropy_coef_at(0) == pytest.approx(0.05)
    assert config.entropy_coef_at(5) == pytest.approx(0.03)
    assert config.entropy_coef_at(10) == pytest.approx(0.01)
    assert config.entropy_coef_at(1000) == pytest.approx(0.01)
    # x1.5 for the first quarter, x1.0 to three quarters, then down to x0.5, and it stays.
    scales = [config.floor_scale_at(u) for u in (0, 24, 25, 74, 75, 90, 100, 500)]
    assert scales == pytest.approx([1.5, 1.5, 1.0, 1.0, 1.0, 0.7, 0.5, 0.5])
    # Off by default: constant.
    plain = PPOConfig()
    assert {plain.entropy_coef_at(u) for u in (0, 7, 1000)} == {0.05}
    assert {plain.floor_scale_at(u) for u in (0, 7, 1000)} == {1.0}


def test_an_update_uses_and_reports_the_scheduled_coefficients(catalog) -> None:
    policy = small_policy(catalog)
    config = PPOConfig(entropy_anneal_updates=4, entropy_floor_schedule=4, entropy_floor_coef=0.2)
    agent = PPOAgent(config, policy=policy)
    first = agent.update(collect(policy, catalog, seed=1))
    agent.updates = 3
    later = agent.update(collect(policy, catalog, seed=2))
    assert first["entropy_coef"] == pytest.approx(0.05)
    assert later["entropy_coef"] == pytest.approx(0.05 + (0.01 - 0.05) * 3 / 4)
    assert first["floor_coef"] == pytest.approx(0.3)
    assert later["floor_coef"] == pytest.approx(0.2)  # three quarters in: x1.0
    # The entropy loss is the coefficient times the weighted entropies, so it scales with it.
    ratio = first["entropy_loss"] / later["entropy_loss"]
    assert ratio == pytest.approx(
        0.05 / later["entropy_coef"] * _weighted_entropy(first) / _weighted_entropy(later),
        rel=1e-4,
    )


def _weighted_entropy(metrics: dict[str, float]) -> float:
    multipliers = PPOConfig().head_multipliers()
    return sum(multipliers[h] * metrics[f"entropy_{h}"] for h in HEADS)


def test_advantage_spread_is_the_std_over_each_heads_relevant_steps() -> None:
    advantages = torch.tensor([[1.0, 3.0, -2.0], [0.0, 5.0, 5.0]])
    relevant = torch.zeros(2, 3, 2, dtype=torch.bool)
    relevant[..., 0] = True  # head 0: every step
    relevant[0, 0, 1] = relevant[0, 1, 1] = True  # head 1: the steps with 1 and 3
    spread = advantage_spread(advantages, relevant)
    assert spread[0].item() == pytest.approx(advantages.std(unbiased=False).item())
    assert spread[1].item() == pytest.approx(1.0)
    assert advantage_spread(advantages, torch.zeros_like(relevant)).tolist() == [0.0, 0.0]


def test_the_observation_normaliser_learns_after_the_update(catalog) -> None:
    policy = LSTMPolicy(
        LSTMConfig(hidden_dim=16, feature_dim=16, normalize_observations=True), catalog=catalog
    )
    policy.build(SLOTS)
    norm = policy.network.obs_norm
    assert norm is not None
    assert norm.count.item() == 0
    buf = collect(policy, catalog, seed=4)
    agent = PPOAgent(PPOConfig(target_kl=None), policy=policy)
    metrics = agent.update(buf)
    assert math.isfinite(metrics["approx_kl"])
    # Folded in after the update: every valid step of the rollout, exactly.
    features = buf.observations().features[buf.valid]
    assert norm.count.item() == features.shape[0]
    torch.testing.assert_close(norm.mean, features.mean(dim=0), rtol=1e-5, atol=1e-5)
    # The statistics are in the network's state dict, so a checkpoint carries them.
    state = policy.network.state_dict()
    assert {"obs_norm.mean", "obs_norm.var", "obs_norm.count"} <= set(state)
    twin = LSTMPolicy(
        LSTMConfig(hidden_dim=16, feature_dim=16, normalize_observations=True), catalog=catalog
    )
    twin.load_state_dict(policy.state_dict())
    torch.testing.assert_close(twin.network.obs_norm.mean, norm.mean)  # type: ignore[union-attr]
    # Off by default: no statistics, and a plain policy ignores observe_rollout.
    plain = small_policy(catalog)
    assert plain.network.obs_norm is None
    plain.observe_rollout(buf.observations(), buf.valid)


def test_the_critic_phase_steps_only_the_critic_and_fits_it(catalog) -> None:
    policy = small_policy(catalog)
    # Returns that the epoch (in the observation) predicts: one unit of reward per step.
    buf = collect(policy, catalog, seed=5, reward=lambda row: 1.0)
    base = {"target_kl": None, "value_coef_warmup": 0}
    start = weights(policy)
    without = PPOAgent(PPOConfig(**base), policy=policy).update(buf)
    plain = weights(policy)
    policy.network.load_state_dict(start)
    agent = PPOAgent(PPOConfig(**base, critic_epochs=200, critic_lr=3e-3), policy=policy)
    with_phase = agent.update(buf)
    # The policy's epochs are the same in both runs; the phase then moved the critic alone.
    after = weights(policy)
    critic = {f"critic.{k}" for k in policy.network.critic.state_dict()}
    moved = {k for k in plain if not torch.equal(plain[k], after[k])}
    assert moved
    assert moved <= critic
    assert with_phase["explained_variance_after"] > without["explained_variance_after"] + 0.5
    # Its optimizer's state is in the agent's checkpoint, and comes back.
    state = agent.state_dict()
    assert state["critic_optimizer"] is not None
    twin = PPOAgent(PPOConfig(**base, critic_epochs=200), policy=policy)
    twin.load_state_dict(state)
    restored = twin.critic_optimizer()
    assert restored is not None
    assert len(restored.state_dict()["state"]) == len(list(policy.network.critic.parameters()))


def test_metrics_names_and_empty_buffer(catalog) -> None:
    policy = small_policy(catalog)
    agent = PPOAgent(policy=policy)
    assert isinstance(agent, Agent)
    assert agent.gamma == 0.995
    empty = RolloutBuffer(envs=2, steps=3, space=policy.space, obs_size=feature_size(3))
    idle = agent.update(empty)
    metrics = agent.update(collect(policy, catalog))
    assert set(idle) == set(metrics)
    required = {
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "grad_norm",
        "policy_loss",
        "value_loss",
        "entropy_loss",
        "early_stopped",
        "skipped",
        "explained_variance_after",
        "return_std",
        "entropy_coef",
        "floor_coef",
        *(f"entropy_{h}" for h in HEADS),
        *(f"adv_std_{h}" for h in HEADS),
    }
    assert required <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())
    assert 0.0 <= metrics["entropy_op"] <= 1.0


# -- plugin and config -------------------------------------------------------------------------


def test_ppo_plugin_registers_through_the_hook(catalog) -> None:
    import esper_plugins.agents as hooks

    manager = build_manager(autoload=False)
    registries = Registries(manager)
    if "ppo" not in [entry.name for entry in registries["agents"]]:
        manager.add_plugin(hooks, "esper.agents.ppo")
        registries = Registries(manager)
    entry = registries["agents"].get("ppo")
    config_cls = entry.spec.load_config_cls()
    assert config_cls is PPOConfig
    policy = small_policy(catalog)
    agent = entry.build(config_cls(), policy=policy)
    assert isinstance(agent, PPOAgent)
    assert agent.policy is policy


def test_config_defaults_and_validation() -> None:
    cfg = PPOConfig()
    assert (cfg.lr, cfg.adam_eps, cfg.gamma, cfg.gae_lambda, cfg.clip) == (
        3e-4,
        1e-5,
        0.995,
        0.98,
        0.2,
    )
    assert (cfg.value_coef, cfg.entropy_coef, cfg.max_grad_norm, cfg.target_kl) == (
        0.5,
        0.05,
        5.0,
        0.015,
    )
    assert cfg.head_multipliers()["blueprint"] == 1.3
    assert PPOConfig(entropy_multipliers={"tempo": 2.0}).head_multipliers()["tempo"] == 2.0
    with pytest.raises(ValueError, match="unknown head"):
        PPOConfig(entropy_multipliers={"nope": 1.0})
    with pytest.raises(ValueError, match=r"op = 1\.5"):
        PPOConfig(entropy_floors={"op": 1.5})
    with pytest.raises(ValueError, match="clip"):
        PPOConfig(clip=0.0)
