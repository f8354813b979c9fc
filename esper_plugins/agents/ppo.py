"""`PPOAgent`: clipped PPO over the factored action space (spec 5.7).

One `PPOAgent.update` consumes one filled `esper.rl.rollout.RolloutBuffer` (the whole rollout is
one batch; each env row is one episode run through the LSTM from a zero state):

1. **Rewards.** The reward normaliser absorbs the batch's raw rewards, then every reward is
   divided by the running std and clipped to +-10. A rollback's terminal step gets
   ``-rollback_penalty``; with ``forfeit_on_rollback`` the earlier steps of that episode get 0.
2. **Advantages.** Stored values and bootstrap values are denormalised with the value
   normaliser, GAE runs per env (`esper.rl.rollout.RolloutBuffer.compute_gae`), returns =
   advantages + values.
3. **Explained variance** of the stored (rollout-time) values against those returns. It is a
   *pre-update* measure: how well the critic that collected the rollout predicted it, not the
   critic after this update (review T2-7).
4. The value normaliser absorbs the raw returns; the critic's targets are the returns on its
   new scale. Advantages are normalised over valid steps (population std floored at 0.1).
5. Per epoch: `esper.contracts.policy.TrainablePolicy.evaluate` re-scores the stored actions; per head
   ``r_h = exp(clamp(log pi_h - log pi_h,old, +-20))`` (review T1-3); losses

   * policy: ``sum_h -mean(min(r_h A, clip(r_h, 1 +- eps) A))`` over steps where head ``h``
     is causally relevant to the stored op and the step was not forced (WAIT the only op);
   * value: ``0.5 * weighted mean (V - target)^2`` over valid steps (forced steps weigh 0.2);
   * entropy: ``-sum_h mult_h * mean normalised entropy_h`` (same steps as the policy loss),
     plus ``floor_coef * sum_h max(0, floor_h - mean entropy_h over steps where h was
     available)^2``;
   * ``total = policy + c_v value + c_ent entropy + floor penalty`` (``c_v`` warms up from
     0.1x over the first updates; ``c_ent`` can anneal and the floor penalty follow a
     schedule, `esper_plugins.agents.config.PPOConfig`).

   After the backward pass the global gradient norm is clipped, and one host sync, the
   epoch's gate, reads the approximate KL (k3 estimator ``(r - 1) - log r``, averaged over
   relevant heads and steps) and whether the loss and the gradient norm are finite: a
   non-finite one skips the epoch (no optimizer step, parameters unchanged), a KL above
   ``kl_stop_factor x target_kl`` stops the update before the step.
6. Diagnostics: the explained variance again after the update (the critic this update
   trained, on the same rollout), each head's advantage spread (the raw advantages' std over
   the steps where the head is relevant) and the raw returns' std.
7. The policy takes in the rollout's observations (`TrainablePolicy.observe_rollout`: the
   LSTM's input normaliser, when on, which costs one more host transfer).

Host syncs: an update reads the device ``epochs + 3`` times at most — each normaliser once as
it absorbs the batch (rewards, then returns), each epoch's gate once, and the metrics, which
stay device tensors during the update, once at the end (``tests/plugins/test_ppo.py`` counts them).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from esper.plugin import (
    HEADS,
    ActionMasks,
    Agent,
    EsperError,
    Observation,
    RewardNormalizer,
    RolloutBuffer,
    TrainablePolicy,
    ValueNormalizer,
    normalize_advantages,
)
from esper_plugins.agents.config import PPOConfig
from esper_plugins.agents.imitation import behaviour_cloning

#: Version of `PPOAgent.state_dict`'s layout.
STATE_SCHEMA = 1
#: Explained variance is reported as 0 when the returns' variance is below this.
_EV_VAR_MIN = 1e-8

#: Per-epoch metrics, in the order of the stacked metric vector.
_EPOCH_METRICS: tuple[str, ...] = (
    "policy_loss",
    "value_loss",
    "entropy_loss",
    "entropy_floor_penalty",
    "approx_kl",
    "clip_fraction",
    "ratio_max",
    "ratio_min",
    *(f"entropy_{name}" for name in HEADS),
)


class PPOError(EsperError):
    """PPO cannot continue (e.g. every recent update was non-finite)."""


def explained_variance(
    values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``1 - Var(returns - values) / Var(returns)`` over ``mask`` (0-d tensor; 0 when the
    returns do not vary). No host sync."""
    w = mask.to(returns.dtype)
    n = w.sum().clamp(min=1.0)

    def var(x: torch.Tensor) -> torch.Tensor:
        mean = (x * w).sum() / n
        return (((x - mean) * w) ** 2).sum() / n

    var_returns = var(returns)
    ev = 1.0 - var(returns - values) / var_returns.clamp(min=_EV_VAR_MIN)
    return torch.where(var_returns >= _EV_VAR_MIN, ev, torch.zeros_like(ev))


def advantage_spread(advantages: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Standard deviation of ``advantages`` ``[E, T]`` over the steps where each head is
    relevant (``relevant`` ``[E, T, H]``): ``[H]``, 0 for a head never relevant. A head whose
    spread is near 0 gets no learning signal, whatever its entropy."""
    w = relevant.to(advantages.dtype)
    count = w.sum(dim=(0, 1)).clamp(min=1.0)
    adv = advantages[..., None]
    mean = (adv * w).sum(dim=(0, 1)) / count
    return ((((adv - mean) ** 2) * w).sum(dim=(0, 1)) / count).sqrt()


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip: float) -> torch.Tensor:
    """The pessimistic PPO objective per entry: ``min(r A, clip(r, 1 - eps, 1 + eps) A)``."""
    return torch.min(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages)


def head_ratios(
    new_log_probs: torch.Tensor, old_log_probs: torch.Tensor, limit: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ratio, log_ratio)`` with the log-ratio clamped to ``[-limit, limit]`` before ``exp``.

    Without the clamp a log-probability gap above ~88.7 overflows float32 to ``inf`` and
    ``inf * 0`` in the loss becomes NaN (review T1-3); ``exp(20)`` is ~4.9e8, finite.
    """
    log_ratio = (new_log_probs - old_log_probs).clamp(-limit, limit)
    return log_ratio.exp(), log_ratio


def approx_kl(log_ratio: torch.Tensor) -> torch.Tensor:
    """The k3 estimator of KL(old || new) per entry: ``(r - 1) - log r`` (>= 0).

    Written ``expm1(log r) - log r``: ``exp(x) - 1`` rounds to a slightly negative KL in
    float32 for tiny ``x``; the clamp absorbs the last ulp.
    """
    return (torch.expm1(log_ratio) - log_ratio).clamp(min=0.0)


def _to_cpu(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().clone()
    if isinstance(state, dict):
        return {k: _to_cpu(x) for k, x in state.items()}
    if isinstance(state, list):
        return [_to_cpu(x) for x in state]
    if isinstance(state, tuple):
        return tuple(_to_cpu(x) for x in state)
    return copy.deepcopy(state)


class PPOAgent(Agent):
    """Clipped PPO for a `TrainablePolicy` (see the module docstring for one update's steps)."""

    def __init__(self, config: PPOConfig | None = None, *, policy: TrainablePolicy) -> None:
        self.config = config or PPOConfig()
        self._policy = policy
        cfg = self.config
        self.reward_normalizer = RewardNormalizer(clip=cfg.reward_clip)
        self.value_normalizer = ValueNormalizer(
            warmup=cfg.value_norm_warmup, momentum=cfg.value_norm_momentum
        )
        self._optimizer: torch.optim.Adam | None = None
        self._pending_optimizer: dict[str, Any] | None = None
        self._critic_optimizer: torch.optim.Adam | None = None
        self._pending_critic: dict[str, Any] | None = None
        #: Calls of `update` that had a rollout to learn from.
        self.updates = 0
        #: Optimizer steps taken.
        self.train_steps = 0
        #: Consecutive updates that took no step because every epoch was non-finite.
        self.consecutive_skips = 0
        multipliers = cfg.head_multipliers()
        floors = cfg.head_floors()
        self._multipliers = [multipliers[name] for name in HEADS]
        self._floors = [floors[name] for name in HEADS]
        self._constants: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def policy(self) -> TrainablePolicy:
        return self._policy

    @property
    def gamma(self) -> float:
        return self.config.gamma

    # -- optimizer ------------------------------------------------------------------------------

    def optimizer(self) -> torch.optim.Adam:
        """Adam over the policy network's parameters (created on first use; fused on CUDA)."""
        if self._optimizer is None:
            params = list(self._policy.network.parameters())
            cuda = bool(params) and all(p.is_cuda for p in params)
            # fused/foreach stay torch's defaults on other devices.
            options: dict[str, Any] = {"fused": True} if cuda else {}
            self._optimizer = torch.optim.Adam(
                params, lr=self.config.lr, eps=self.config.adam_eps, **options
            )
            if self._pending_optimizer is not None:
                self._optimizer.load_state_dict(self._pending_optimizer)
                self._pending_optimizer = None
        return self._optimizer

    def critic_optimizer(self) -> torch.optim.Adam | None:
        """Adam over the parameters only the critic uses, for the critic phase (None when it is
        off or the policy names no such parameters)."""
        if self._critic_optimizer is None and self.config.critic_epochs > 0:
            params = self._policy.value_parameters()
            if not params:
                return None
            self._critic_optimizer = torch.optim.Adam(
                params, lr=self.config.critic_lr, eps=self.config.adam_eps
            )
            if self._pending_critic is not None:
                self._critic_optimizer.load_state_dict(self._pending_critic)
                self._pending_critic = None
        return self._critic_optimizer

    def _critic_phase(
        self,
        obs: Observation,
        masks: ActionMasks,
        actions: torch.Tensor,
        targets: torch.Tensor,
        value_w: torch.Tensor,
        value_count: torch.Tensor,
    ) -> None:
        """``critic_epochs`` passes of the value loss alone, stepping only the critic's own
        parameters; a pass whose loss is not finite ends the phase before its step."""
        optimizer = self.critic_optimizer()
        if optimizer is None:
            return
        network = self._policy.network
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for _ in range(self.config.critic_epochs):
            values = self._policy.evaluate(obs, masks, actions).values
            loss = 0.5 * (((values - targets) ** 2) * value_w).sum() / value_count
            network.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
            if not bool(torch.isfinite(loss) & torch.isfinite(norm)):  # the pass's one sync
                break
            optimizer.step()
        network.zero_grad(set_to_none=True)

    def _head_constants(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Entropy multipliers and floors per head on ``device`` (copied there once)."""
        cached = self._constants.get(device)
        if cached is None:
            cached = (
                torch.tensor(self._multipliers, device=device),
                torch.tensor(self._floors, device=device),
            )
            self._constants[device] = cached
        return cached

    def value_coef(self) -> float:
        """The value-loss coefficient for the next update (linear warm-up from 0.1x)."""
        cfg = self.config
        if cfg.value_coef_warmup == 0:
            return cfg.value_coef
        progress = min(1.0, self.updates / cfg.value_coef_warmup)
        return cfg.value_coef * (0.1 + 0.9 * progress)

    # -- imitation ------------------------------------------------------------------------------

    def imitate(self, buffer: RolloutBuffer, *, epochs: int, lr: float) -> dict[str, float]:
        """Behaviour cloning of a teacher's rollout and a critic fitted to its returns, with
        this agent's normalisers (`esper_plugins.agents.imitation`). The fit has an Adam of
        its own, so PPO's optimizer starts without the fit's moments."""
        if buffer.total_steps == 0:
            raise EsperError("imitation: the teacher's episodes recorded no decision")
        return behaviour_cloning(
            self._policy,
            torch.optim.Adam(self._policy.network.parameters(), lr=lr, eps=self.config.adam_eps),
            buffer,
            self.process_rewards(buffer),
            self.value_normalizer,
            gamma=self.config.gamma,
            epochs=epochs,
            max_grad_norm=self.config.max_grad_norm,
        )

    # -- the update -----------------------------------------------------------------------------

    def process_rewards(self, buffer: RolloutBuffer) -> torch.Tensor:
        """Update the reward normaliser with the batch's raw rewards; return the rewards on the
        normalised scale with rollback penalties applied (0 on padding)."""
        cfg = self.config
        valid, terminal = buffer.valid, buffer.terminal
        self.reward_normalizer.update(buffer.rewards, valid)
        rewards = self.reward_normalizer.normalize(buffer.rewards)
        if cfg.forfeit_on_rollback:
            rolled_back = terminal.any(dim=1, keepdim=True)
            rewards = torch.where(rolled_back, torch.zeros_like(rewards), rewards)
        rewards = torch.where(terminal, torch.full_like(rewards, -cfg.rollback_penalty), rewards)
        return rewards * valid.to(rewards.dtype)

    def update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """One PPO update from a filled rollout; returns metrics as floats (module docstring).

        ``explained_variance`` is measured before the update, with the values the rollout was
        collected with (a pre-update measure). ``skipped`` is 1 when no optimizer step was
        taken because the loss or the gradients were not finite; ``early_stopped`` is 1 when
        the KL check ended the update before its last epoch's optimizer step.
        """
        cfg = self.config
        if buffer.total_steps == 0:
            return self._idle_metrics()
        policy = self._policy
        network = policy.network
        space = policy.space
        optimizer = self.optimizer()
        params = [p for group in optimizer.param_groups for p in group["params"]]

        valid = buffer.valid
        forced = buffer.forced()
        rewards = self.process_rewards(buffer)
        values_raw = self.value_normalizer.denormalize(buffer.values)
        bootstrap_raw = self.value_normalizer.denormalize(buffer.bootstrap)
        advantages, returns = buffer.compute_gae(
            values_raw, bootstrap_raw, cfg.gamma, cfg.gae_lambda, rewards=rewards
        )
        # Pre-update measure (review T2-7): how well the critic that collected this rollout
        # predicted its returns; the critic after this update is never asked.
        ev = explained_variance(values_raw, returns, valid)
        self.value_normalizer.update(returns, valid)
        targets = self.value_normalizer.normalize(returns)
        obs, masks, actions = buffer.observations(), buffer.action_masks(), buffer.actions
        old_log_probs = buffer.log_probs
        acting = valid & ~forced
        relevant = space.relevance(actions[..., 0]) & acting[..., None]  # [E, T, H]
        # Diagnostics on the raw scale, before normalising: how much signal each head gets.
        spread = advantage_spread(advantages, relevant)
        advantages = normalize_advantages(advantages, valid, std_floor=cfg.adv_std_floor)
        policy_w = relevant.to(advantages.dtype)
        head_counts = policy_w.sum(dim=(0, 1)).clamp(min=1.0)
        total_count = policy_w.sum().clamp(min=1.0)
        available_w = (space.availability(masks) & acting[..., None]).to(advantages.dtype)
        available_counts = available_w.sum(dim=(0, 1)).clamp(min=1.0)
        value_w = torch.where(forced, cfg.forced_value_weight, 1.0) * valid.to(targets.dtype)
        value_count = value_w.sum().clamp(min=1e-8)
        multipliers, floors = self._head_constants(advantages.device)
        value_coef = self.value_coef()
        entropy_coef = cfg.entropy_coef_at(self.updates)
        floor_coef = cfg.entropy_floor_coef * cfg.floor_scale_at(self.updates)
        adv = advantages[..., None]

        was_training = network.training
        network.train()
        epoch_metrics: list[torch.Tensor] = []
        grad_norms: list[torch.Tensor] = []
        early_stopped = False
        nonfinite = False
        try:
            for _epoch in range(cfg.epochs):
                out = policy.evaluate(obs, masks, actions)
                ratio, log_ratio = head_ratios(out.log_probs, old_log_probs, cfg.log_ratio_clamp)
                surrogate = clipped_surrogate(ratio, adv, cfg.clip)
                policy_loss = (-(surrogate * policy_w).sum(dim=(0, 1)) / head_counts).sum()
                entropy_h = (out.entropies * policy_w).sum(dim=(0, 1)) / head_counts
                entropy_loss = entropy_coef * -(multipliers * entropy_h).sum()
                available_entropy = (out.entropies * available_w).sum(dim=(0, 1)) / available_counts
                floor_penalty = (
                    floor_coef * ((floors - available_entropy).clamp(min=0.0) ** 2).sum()
                )
                value_loss = 0.5 * (((out.values - targets) ** 2) * value_w).sum() / value_count
                total = policy_loss + value_coef * value_loss + entropy_loss + floor_penalty
                with torch.no_grad():
                    kl = (approx_kl(log_ratio) * policy_w).sum() / total_count
                    clipped = ((ratio - 1.0).abs() > cfg.clip).to(policy_w.dtype)
                    clip_fraction = (clipped * policy_w).sum() / total_count
                    big = torch.finfo(ratio.dtype).max
                    ratio_max = torch.where(relevant, ratio, -big).amax()
                    ratio_min = torch.where(relevant, ratio, big).amin()
                    epoch_metrics.append(
                        torch.stack(
                            [
                                policy_loss.detach(),
                                value_loss.detach(),
                                entropy_loss.detach(),
                                floor_penalty.detach(),
                                kl,
                                clip_fraction,
                                ratio_max,
                                ratio_min,
                                *entropy_h.detach().unbind(),
                            ]
                        )
                    )
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                # The epoch's gate, its one host sync: the KL, and whether the loss and the
                # gradients are finite. Read after the backward pass, so that one transfer
                # answers all three before the optimizer step (which is what they guard).
                with torch.no_grad():
                    kl_value, bad_loss, bad_grad = torch.stack(
                        [
                            kl,
                            (~torch.isfinite(total)).to(kl.dtype),
                            (~torch.isfinite(grad_norm)).to(kl.dtype),
                        ]
                    ).tolist()
                if bad_loss or bad_grad:
                    optimizer.zero_grad(set_to_none=True)
                    nonfinite = True
                    break  # parameters are unchanged, so a further epoch would repeat this
                if cfg.target_kl is not None and kl_value > cfg.kl_stop_factor * cfg.target_kl:
                    optimizer.zero_grad(set_to_none=True)
                    early_stopped = True
                    break
                optimizer.step()
                grad_norms.append(grad_norm.detach())
                self.train_steps += 1
            self._critic_phase(obs, masks, actions, targets, value_w, value_count)
            # Post-update measure: the critic after this update on the same rollout.
            network.eval()
            with torch.no_grad():
                after = self.value_normalizer.denormalize(
                    policy.evaluate(obs, masks, actions).values
                )
            ev_after = explained_variance(after, returns, valid)
        finally:
            network.train(was_training)
        optimizer.zero_grad(set_to_none=True)
        # After the update, so that it re-scored the rollout with the statistics it was
        # collected with.
        policy.observe_rollout(obs, valid)

        stepped = len(grad_norms)
        self.updates += 1
        skipped = nonfinite and stepped == 0
        self.consecutive_skips = self.consecutive_skips + 1 if skipped else 0
        metrics = self._gather(
            epoch_metrics,
            grad_norms,
            torch.stack([ev, ev_after]),
            spread,
            returns,
            valid,
            early_stopped=early_stopped,
        )
        metrics.update(
            entropy_coef=entropy_coef,
            floor_coef=floor_coef,
            skipped=float(skipped),
            nonfinite=float(nonfinite),
            epochs=float(stepped),
            value_coef=value_coef,
            reward_std=self.reward_normalizer.std,
            value_scale=self.value_normalizer.std,
            train_steps=float(self.train_steps),
        )
        if self.consecutive_skips >= cfg.max_consecutive_skips:
            raise PPOError(
                f"{self.consecutive_skips} consecutive PPO updates were skipped because the loss "
                "or gradients were not finite; the policy is not learning"
            )
        return metrics

    def _gather(
        self,
        epoch_metrics: list[torch.Tensor],
        grad_norms: list[torch.Tensor],
        evs: torch.Tensor,
        spread: torch.Tensor,
        returns: torch.Tensor,
        valid: torch.Tensor,
        *,
        early_stopped: bool,
    ) -> dict[str, float]:
        """All tensor metrics to floats in one device-to-host transfer. ``evs`` is the explained
        variance before and after the update, ``spread`` the advantage spread per head."""
        device = evs.device
        per_epoch = (
            torch.stack(epoch_metrics).mean(dim=0)
            if epoch_metrics
            else torch.zeros(len(_EPOCH_METRICS), device=device)
        )
        grad_norm = torch.stack(grad_norms).mean() if grad_norms else torch.zeros((), device=device)
        w = valid.to(returns.dtype)
        count = w.sum().clamp(min=1.0)
        return_mean = (returns * w).sum() / count
        return_std = ((((returns - return_mean) ** 2) * w).sum() / count).sqrt()
        tail = torch.stack([grad_norm, *evs.unbind(), return_mean, return_std])
        values = torch.cat([per_epoch.float(), spread.float(), tail.float()])
        floats = values.tolist()
        metrics = dict(zip(_EPOCH_METRICS, floats, strict=False))
        heads = floats[len(_EPOCH_METRICS) : len(_EPOCH_METRICS) + len(HEADS)]
        metrics.update({f"adv_std_{name}": x for name, x in zip(HEADS, heads, strict=True)})
        (
            metrics["grad_norm"],
            metrics["explained_variance"],
            metrics["explained_variance_after"],
            metrics["return_mean"],
            metrics["return_std"],
        ) = floats[-5:]
        metrics["early_stopped"] = float(early_stopped)
        return metrics

    def _idle_metrics(self) -> dict[str, float]:
        metrics = dict.fromkeys(_EPOCH_METRICS, 0.0)
        metrics.update({f"adv_std_{name}": 0.0 for name in HEADS})
        metrics.update(
            grad_norm=0.0,
            explained_variance=0.0,
            explained_variance_after=0.0,
            return_mean=0.0,
            return_std=0.0,
            entropy_coef=self.config.entropy_coef_at(self.updates),
            floor_coef=self.config.entropy_floor_coef * self.config.floor_scale_at(self.updates),
            early_stopped=0.0,
            skipped=1.0,
            nonfinite=0.0,
            epochs=0.0,
            value_coef=self.value_coef(),
            reward_std=self.reward_normalizer.std,
            value_scale=self.value_normalizer.std,
            train_steps=float(self.train_steps),
        )
        return metrics

    # -- checkpoints ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Optimizer (CPU tensors), normalisers and counters; ``torch.load(weights_only=True)``
        can read it back."""
        optimizer = (
            self._optimizer.state_dict() if self._optimizer is not None else self._pending_optimizer
        )
        critic = (
            self._critic_optimizer.state_dict()
            if self._critic_optimizer is not None
            else self._pending_critic
        )
        return {
            "schema": STATE_SCHEMA,
            "optimizer": None if optimizer is None else _to_cpu(optimizer),
            "critic_optimizer": None if critic is None else _to_cpu(critic),
            "reward_normalizer": self.reward_normalizer.state_dict(),
            "value_normalizer": self.value_normalizer.state_dict(),
            "updates": self.updates,
            "train_steps": self.train_steps,
            "consecutive_skips": self.consecutive_skips,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("schema") != STATE_SCHEMA:
            raise EsperError(
                f"PPO agent state has schema {state.get('schema')!r}, expected {STATE_SCHEMA}"
            )
        self.reward_normalizer.load_state_dict(state["reward_normalizer"])
        self.value_normalizer.load_state_dict(state["value_normalizer"])
        self.updates = int(state["updates"])
        self.train_steps = int(state["train_steps"])
        self.consecutive_skips = int(state["consecutive_skips"])
        critic = state.get("critic_optimizer")
        if critic is not None:
            if self._critic_optimizer is not None:
                self._critic_optimizer.load_state_dict(critic)
            else:
                self._pending_critic = critic
        optimizer = state["optimizer"]
        if optimizer is None:
            return
        if self._optimizer is not None:
            self._optimizer.load_state_dict(optimizer)
        else:
            # The network may not exist yet (it is built on the first decision).
            self._pending_optimizer = optimizer
