"""Behaviour cloning for `esper_plugins.agents.ppo.PPOAgent.imitate` (imitation warm start).

The loss is the PPO loss's own bookkeeping applied to a teacher's rollout: the negative
log-probability of each stored head where it is causally relevant to the stored op (the
irrelevant heads are canonicalised to one value, so they carry no information), plus the
critic's squared error against the teacher's discounted returns on the value normaliser's
scale. The reward and value normalisers absorb the teacher's rollout first, so PPO starts
with their statistics warm.
"""

from __future__ import annotations

import torch

from esper.plugin import RolloutBuffer, TrainablePolicy, ValueNormalizer


def behaviour_cloning(
    policy: TrainablePolicy,
    optimizer: torch.optim.Optimizer,
    buffer: RolloutBuffer,
    rewards: torch.Tensor,
    value_normalizer: ValueNormalizer,
    *,
    gamma: float,
    epochs: int,
    max_grad_norm: float,
) -> dict[str, float]:
    """``epochs`` full-batch steps on ``buffer``; returns the first and last losses and the
    critic's explained variance after the fit."""
    valid = buffer.valid
    zeros = torch.zeros_like(buffer.values)
    # lambda 1 with zero values: the Monte Carlo returns of the teacher's episodes.
    _, returns = buffer.compute_gae(
        zeros, torch.zeros_like(buffer.bootstrap), gamma, 1.0, rewards=rewards
    )
    value_normalizer.update(returns, valid)
    targets = value_normalizer.normalize(returns)
    obs, masks, actions = buffer.observations(), buffer.action_masks(), buffer.actions
    # Before the fit: the student learns on inputs normalised as it will see them when acting.
    policy.observe_rollout(obs, valid)
    relevant = policy.space.relevance(actions[..., 0]) & valid[..., None]
    head_w = relevant.to(targets.dtype)
    head_count = head_w.sum().clamp(min=1.0)
    value_w = valid.to(targets.dtype)
    value_count = value_w.sum().clamp(min=1.0)
    network = policy.network
    params = [p for group in optimizer.param_groups for p in group["params"]]
    network.train()
    losses: list[torch.Tensor] = []
    for _ in range(epochs):
        out = policy.evaluate(obs, masks, actions)
        cloning = -(out.log_probs * head_w).sum() / head_count
        value = 0.5 * (((out.values - targets) ** 2) * value_w).sum() / value_count
        loss = cloning + value
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        losses.append(torch.stack([cloning.detach(), value.detach()]))
    optimizer.zero_grad(set_to_none=True)
    network.eval()
    with torch.no_grad():
        values = value_normalizer.denormalize(policy.evaluate(obs, masks, actions).values)
        w = value_w
        mean = (returns * w).sum() / value_count
        var_returns = (((returns - mean) ** 2) * w).sum() / value_count
        residual = returns - values
        res_mean = (residual * w).sum() / value_count
        var_residual = (((residual - res_mean) ** 2) * w).sum() / value_count
        ev = 1.0 - var_residual / var_returns.clamp(min=1e-8)
        first, last = losses[0].tolist(), losses[-1].tolist()  # one transfer each, after the fit
    return {
        "cloning_loss_first": first[0],
        "cloning_loss_last": last[0],
        "value_loss_first": first[1],
        "value_loss_last": last[1],
        "explained_variance": float(ev),
        "epochs": float(epochs),
    }
