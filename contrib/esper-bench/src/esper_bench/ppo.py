"""PPO benchmark: esper's whole update vs a minimal PPO update of the same network.

* ppo_update: `esper_plugins.agents.ppo.PPOAgent.update` (reward normalisation, GAE, value
  normaliser, per-head clipped surrogate with causal masks, entropy bonus and floor penalty,
  finiteness gate, gradient clipping, Adam step, one metrics transfer) on a 4 envs x 150 steps
  rollout of the registered ``lstm`` policy, vs a reference written here: a textbook PPO
  update (GAE as a Python loop, then per pass one ``evaluate_actions`` call, joint-ratio
  clipped loss, MSE value loss, mean entropy, backward, clip, Adam step) with as many passes as
  the agent's config, on the same rollout and an identical network. Reported as ours / reference; goal <= 1.0 (the extra bookkeeping costs
  nothing measurable next to the LSTM's forward and backward passes).

Each variant updates its own copy of the network, so both keep doing the same amount of work
per call; the KL early stop is off so every call of ours runs its backward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from esper.registry.specs import import_ref
from esper.rl.observation import feature_size
from esper.rl.rollout import RolloutBuffer

from esper_bench.policy import SLOTS, _policy, _signals
from esper_bench.suite import Figure, benchmark
from esper_bench.timing import compare, ratio

ENVS, STEPS = 4, 150


def _rollout(policy: Any, catalog: Any) -> RolloutBuffer:
    buf = RolloutBuffer(
        envs=ENVS, steps=STEPS, space=policy.space, obs_size=feature_size(len(SLOTS))
    )
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    hidden = None
    for t in range(STEPS):
        decision = policy.act([_signals(catalog, e, t, STEPS) for e in range(ENVS)], hidden)
        hidden = decision.step.hidden
        buf.record(range(ENVS), t, decision)
        buf.set_rewards(range(ENVS), t, torch.randn(ENVS, generator=g).tolist())
    for e in range(ENVS):
        # One env is rolled back half-way, the rest are truncated.
        buf.end_episode(e, STEPS // 2 if e == 1 else STEPS - 1, terminal=e == 1)
    buf.set_bootstrap(list(range(ENVS)), torch.zeros(ENVS))
    return buf


def _reference_update(
    network: Any, optimizer: torch.optim.Optimizer, buf: RolloutBuffer, epochs: int = 1
) -> torch.Tensor:
    """A plain PPO update of ``epochs`` full-batch passes (what a from-scratch implementation
    would write)."""
    gamma, lam, clip = 0.995, 0.98, 0.2
    valid = buf.valid.float()
    rewards, values, terminal = buf.rewards, buf.values, buf.terminal.float()
    advantages = torch.zeros_like(values)
    last = torch.zeros(ENVS)
    for t in reversed(range(STEPS)):
        after = buf.bootstrap if t == STEPS - 1 else values[:, t + 1]
        next_valid = torch.zeros(ENVS) if t == STEPS - 1 else valid[:, t + 1]
        next_value = torch.where(next_valid > 0, after, buf.bootstrap)
        nonterminal = 1.0 - terminal[:, t]
        delta = rewards[:, t] + gamma * next_value * nonterminal - values[:, t]
        last = (delta + gamma * lam * nonterminal * next_valid * last) * valid[:, t]
        advantages[:, t] = last
    returns = advantages + values
    n = valid.sum()
    mean = (advantages * valid).sum() / n
    std = ((((advantages - mean) * valid) ** 2).sum() / n).sqrt()
    advantages = (advantages - mean) / (std + 1e-8)

    loss = torch.zeros(())
    for _ in range(epochs):
        out = network.evaluate_actions(buf.observations(), buf.action_masks(), buf.actions)
        ratio_ = torch.exp(out.log_probs.sum(-1) - buf.log_probs.sum(-1))
        surrogate = torch.min(ratio_ * advantages, ratio_.clamp(1 - clip, 1 + clip) * advantages)
        policy_loss = -(surrogate * valid).sum() / n
        value_loss = 0.5 * (((out.values - returns) ** 2) * valid).sum() / n
        entropy = (out.entropies.mean(-1) * valid).sum() / n
        loss = policy_loss + 0.5 * value_loss - 0.05 * entropy
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
        optimizer.step()
    return loss.detach()


@benchmark("ppo_update")
def ppo_update(quick: bool) -> list[Figure]:
    # By reference: esper_plugins ships in esper-nn, whose own configuration type-checks it.
    ppo_agent = import_ref("esper_plugins.agents.ppo:PPOAgent")
    ppo_config = import_ref("esper_plugins.agents.config:PPOConfig")
    ours_policy, catalog = _policy()
    ref_policy, _ = _policy()  # the same initial weights (init_seed)
    buf = _rollout(ours_policy, catalog)
    config = ppo_config(target_kl=None)
    agent = ppo_agent(config, policy=ours_policy)
    epochs = int(config.epochs)  # the reference makes as many passes as the agent
    ref_network = ref_policy.network
    ref_optimizer = torch.optim.Adam(ref_network.parameters(), lr=3e-4, eps=1e-5)
    ours_policy.network.train()
    ref_network.train()

    metrics = agent.update(buf)
    loss = _reference_update(ref_network, ref_optimizer, buf, epochs)
    if metrics["skipped"] or not torch.isfinite(loss):
        raise RuntimeError("a PPO update in the benchmark was not finite")

    timings = compare(
        {
            "ours": lambda: agent.update(buf),
            "reference": lambda: _reference_update(ref_network, ref_optimizer, buf, epochs),
        },
        repeats=3 if quick else 10,
        warmup=1,
    )
    return [
        Figure(
            name=f"PPO update, {ENVS} x {STEPS} rollout: esper's PPOAgent / minimal reference",
            value=ratio(timings, "ours", "reference"),
            unit="x",
            goal="<= 1.0",
            detail={
                "ours_median_s": timings["ours"].median_s,
                "reference_median_s": timings["reference"].median_s,
                "min_ratio": ratio(timings, "ours", "reference", stat="min"),
                "hidden_dim": ours_policy.network.hidden_dim,
                "epochs": epochs,
            },
        )
    ]
