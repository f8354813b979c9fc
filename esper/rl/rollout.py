"""The rollout buffer: one episode per environment row, and GAE over it.

`RolloutBuffer` pre-allocates every tensor as ``[envs, steps, ...]`` on its device once; a
runner fills it step by step (`RolloutBuffer.record`, `RolloutBuffer.set_rewards`), closes each
env's episode (`RolloutBuffer.end_episode`) and writes the bootstrap values V(s_{T+1}) of
truncated episodes (`RolloutBuffer.set_bootstrap`). An agent then reads the whole rollout at
once (`RolloutBuffer.observations`, `RolloutBuffer.action_masks`, ``actions``, ...).

Layout rules:

* Each env row holds exactly one episode starting at step 0. Rows after its last step are
  *padding* (``valid`` False): WAIT with every other head at its canonical value, masks that
  allow only WAIT for the op, zero features and empty slots (blueprint index -1). Padding is
  legal input for `esper.contracts.policy.TrainablePolicy.evaluate` and its log-probabilities are
  exactly 0, the same as the stored ones.
* ``terminal`` marks a *true* terminal: a governor rollback ended the episode after that step.
  Only a true terminal cuts the value chain; a truncated episode (the epoch budget ran out)
  bootstraps its last step with V(s_{T+1}).
* Nothing here reads a device tensor on the host: `RolloutBuffer.record` copies rows with
  device-side indexing, and episode bookkeeping (``lengths``) is Python integers the runner
  already knows.

`RolloutBuffer.compute_gae` computes generalised advantage estimates per env row; see its
docstring. `normalize_advantages` standardises advantages over the valid entries with a floor
on the standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from esper.contracts.actions import Op
from esper.contracts.trainable import Decision
from esper.errors import EsperError
from esper.rl.action_space import HEADS, ActionMasks, ActionSpace
from esper.rl.observation import Observation

#: Population standard deviation below which advantages are not scaled up further (spec 5.6).
ADV_STD_FLOOR = 0.1


class RolloutError(EsperError):
    """The rollout buffer was filled out of order or with rows it cannot hold."""


def normalize_advantages(
    advantages: torch.Tensor, mask: torch.Tensor, *, std_floor: float = ADV_STD_FLOOR
) -> torch.Tensor:
    """``(A - mean) / max(std, std_floor)`` over the entries where ``mask`` is True; 0 elsewhere.

    Mean and *population* standard deviation are taken over the masked entries only (valid
    steps, optionally also restricted to causally relevant ones), so padding never shifts the
    statistics. The floor keeps a batch of near-identical advantages from being blown up into
    unit-variance noise. With no masked entry the result is all zeros. No host sync.
    """
    weight = mask.to(advantages.dtype)
    count = weight.sum().clamp(min=1.0)
    mean = (advantages * weight).sum() / count
    centred = (advantages - mean) * weight
    std = ((centred * centred).sum() / count).sqrt().clamp(min=std_floor)
    return centred / std


class RolloutBuffer:
    """Fixed-size storage for ``envs`` episodes of at most ``steps`` steps each.

    Attributes read by agents (all ``[envs, steps, ...]`` on ``device``): ``actions`` int64
    ``[.., heads]``, ``log_probs`` float32 ``[.., heads]``, ``values`` float32 (V(s) as the
    policy output it, i.e. on the critic's normalised scale), ``rewards`` float32 (raw scale),
    ``terminal`` bool, ``valid`` bool; ``bootstrap`` ``[envs]`` float32.
    """

    def __init__(
        self,
        *,
        envs: int,
        steps: int,
        space: ActionSpace,
        obs_size: int,
        device: torch.device | str = "cpu",
    ) -> None:
        if envs < 1 or steps < 1:
            raise RolloutError(
                f"a rollout buffer needs envs >= 1 and steps >= 1, got {envs}, {steps}"
            )
        if obs_size < 1:
            raise RolloutError(f"obs_size must be positive, got {obs_size}")
        self.envs = envs
        self.steps = steps
        self.space = space
        self.obs_size = obs_size
        self.device = torch.device(device)
        heads = len(HEADS)
        shape = (envs, steps)
        dev = self.device
        self.features = torch.zeros(*shape, obs_size, device=dev)
        self.blueprints = torch.full((*shape, space.num_slots), -1, dtype=torch.long, device=dev)
        self._masks = ActionMasks(
            op=torch.zeros(*shape, space.sizes["op"], dtype=torch.bool, device=dev),
            slot_by_op=torch.zeros(
                *shape, space.sizes["op"], space.num_slots, dtype=torch.bool, device=dev
            ),
            **{
                name: torch.zeros(*shape, space.sizes[name], dtype=torch.bool, device=dev)
                for name in HEADS[2:]
            },
        )
        self.actions = torch.zeros(*shape, heads, dtype=torch.long, device=dev)
        self.log_probs = torch.zeros(*shape, heads, device=dev)
        self.values = torch.zeros(*shape, device=dev)
        self.rewards = torch.zeros(*shape, device=dev)
        self.terminal = torch.zeros(*shape, dtype=torch.bool, device=dev)
        self.valid = torch.zeros(*shape, dtype=torch.bool, device=dev)
        self.bootstrap = torch.zeros(envs, device=dev)
        #: The padding action: WAIT, every other head canonical (log-probability exactly 0).
        self._pad_action = torch.tensor(
            space.canonicalize([int(Op.WAIT)] + [0] * (heads - 1)), dtype=torch.long, device=dev
        )
        self._lengths = [0] * envs
        self._ended = [False] * envs
        self._true = torch.ones((), dtype=torch.bool, device=dev)
        self._index_cache: dict[tuple[int, ...], torch.Tensor] = {}
        self._gae_cache: dict[tuple[float, float], tuple[torch.Tensor, torch.Tensor]] = {}
        self.reset()

    # -- bookkeeping ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to empty (every row padding); keeps the allocations."""
        self._pad(slice(None), 0)
        self.rewards.zero_()
        self.terminal.zero_()
        self.bootstrap.zero_()
        self._lengths = [0] * self.envs
        self._ended = [False] * self.envs

    def _pad(self, rows: slice | int, start: int) -> None:
        """Write padding into ``rows`` from step ``start`` on."""
        cols = slice(start, None)
        self.features[rows, cols] = 0.0
        self.blueprints[rows, cols] = -1
        for name, mask in zip(ActionMasks._fields, self._masks, strict=True):
            if name == "op":
                mask[rows, cols] = False
                mask[rows, cols, int(Op.WAIT)] = True
            else:
                # Every value allowed: the canonicalisation for WAIT then picks one per head.
                mask[rows, cols] = True
        self.actions[rows, cols] = self._pad_action
        self.log_probs[rows, cols] = 0.0
        self.values[rows, cols] = 0.0
        self.valid[rows, cols] = False

    @property
    def lengths(self) -> list[int]:
        """Steps recorded per env (the episode length once it ended)."""
        return list(self._lengths)

    @property
    def ended(self) -> list[bool]:
        """Whether `end_episode` closed each env's row."""
        return list(self._ended)

    @property
    def total_steps(self) -> int:
        return sum(self._lengths)

    def _rows(self, env_index: Sequence[int]) -> slice | torch.Tensor:
        """A slice for a contiguous run of envs (a view, no index tensor), else an index tensor."""
        index = [int(e) for e in env_index]
        if not index:
            raise RolloutError("env_index is empty")
        for e in index:
            if not 0 <= e < self.envs:
                raise RolloutError(f"env {e} is outside [0, {self.envs})")
        if len(set(index)) != len(index):
            raise RolloutError(f"env_index repeats an env: {index}")
        first = index[0]
        if index == list(range(first, first + len(index))):
            return slice(first, first + len(index))
        key = tuple(index)
        rows = self._index_cache.get(key)
        if rows is None:
            # non_blocking: a host-to-device copy that never waits on the device's stream.
            rows = torch.tensor(index, dtype=torch.long).to(self.device, non_blocking=True)
            self._index_cache[key] = rows
        return rows

    def _check_step(self, step: int) -> None:
        if not 0 <= step < self.steps:
            raise RolloutError(f"step {step} is outside [0, {self.steps})")

    # -- filling --------------------------------------------------------------------------------

    def record(self, env_index: Sequence[int], step: int, decision: Decision) -> None:
        """Store row ``i`` of ``decision`` (observation, masks, actions, log-probs, V) as step
        ``step`` of env ``env_index[i]``. Device-to-device copies only (no host sync)."""
        self._check_step(step)
        rows = self._rows(env_index)
        for e in env_index:
            if self._ended[e]:
                raise RolloutError(f"env {e}: its episode already ended; reset() the buffer first")
            if step != self._lengths[e]:
                raise RolloutError(
                    f"env {e}: step {step} recorded out of order (next step is {self._lengths[e]})"
                )
        k = len(env_index)
        obs, masks, out = decision.obs, decision.masks, decision.step
        if obs.features.shape != (k, self.obs_size):
            raise RolloutError(
                f"decision features have shape {tuple(obs.features.shape)}, "
                f"expected {(k, self.obs_size)}"
            )
        dev = self.device
        self.features[rows, step] = obs.features.to(dev, torch.float32)
        self.blueprints[rows, step] = obs.blueprints.to(dev)
        for stored, given in zip(self._masks, masks, strict=True):
            stored[rows, step] = given.to(dev)
        self.actions[rows, step] = out.actions.to(dev)
        self.log_probs[rows, step] = out.log_probs.to(dev, torch.float32)
        self.values[rows, step] = out.value.to(dev, torch.float32)
        # A device-resident True: a Python scalar would be staged through the host (a sync).
        self.valid[rows, step] = self._true
        for e in env_index:
            self._lengths[e] = step + 1

    def set_rewards(self, env_index: Sequence[int], step: int, rewards: Sequence[float]) -> None:
        """Raw-scale rewards of ``step`` for these envs (one host-to-device copy)."""
        self._check_step(step)
        if len(rewards) != len(env_index):
            raise RolloutError(f"{len(rewards)} reward(s) for {len(env_index)} env(s)")
        for e in env_index:
            if step >= self._lengths[e]:
                raise RolloutError(f"env {e}: step {step} has no recorded transition")
        rows = self._rows(env_index)
        values = torch.tensor([float(r) for r in rewards], dtype=torch.float32)
        self.rewards[rows, step] = values.to(self.device, non_blocking=True)

    def end_episode(self, env: int, last_step: int, *, terminal: bool) -> None:
        """Close env ``env``'s episode after ``last_step``.

        ``terminal=True``: a governor rollback followed ``last_step`` (a true terminal: the value
        chain is cut there). ``False``: truncation; the last step bootstraps with the value
        given to `set_bootstrap`. Steps recorded after ``last_step`` are dropped (padding).
        """
        if not 0 <= env < self.envs:
            raise RolloutError(f"env {env} is outside [0, {self.envs})")
        if self._ended[env]:
            raise RolloutError(f"env {env}: episode already ended")
        if not 0 <= last_step < self._lengths[env]:
            raise RolloutError(
                f"env {env}: last_step {last_step} is not a recorded step "
                f"({self._lengths[env]} recorded)"
            )
        if last_step + 1 < self._lengths[env]:
            self._pad(env, last_step + 1)
            self.rewards[env, last_step + 1 :] = 0.0
        self._lengths[env] = last_step + 1
        self._ended[env] = True
        if terminal:
            self.terminal[env, last_step] = True

    def set_bootstrap(self, env_index: Sequence[int], values: torch.Tensor) -> None:
        """V(s_{T+1}) ``[k]`` (critic's scale, as the policy output it) for these envs."""
        if values.shape != (len(env_index),):
            raise RolloutError(
                f"bootstrap values have shape {tuple(values.shape)}, expected ({len(env_index)},)"
            )
        self.bootstrap[self._rows(env_index)] = values.to(self.device, torch.float32)

    # -- reading --------------------------------------------------------------------------------

    def observations(self) -> Observation:
        """``[envs, steps, ...]`` observations (views of the buffer's storage)."""
        return Observation(features=self.features, blueprints=self.blueprints)

    def action_masks(self) -> ActionMasks:
        """``[envs, steps, ...]`` action masks (views of the buffer's storage)."""
        return self._masks

    def forced(self) -> torch.Tensor:
        """``[envs, steps]`` bool: valid steps where WAIT was the only valid op (no agency)."""
        return self.valid & (self._masks.op.sum(dim=-1) == 1)

    # -- advantages -----------------------------------------------------------------------------

    def gae_constants(self, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gamma, gamma * lam)`` as 0-d float32 tensors on the buffer's device (cached).

        Held as tensors so GAE never mixes Python floats into device arithmetic (review T2-2).
        """
        key = (float(gamma), float(lam))
        cached = self._gae_cache.get(key)
        if cached is None:
            g = torch.tensor(key[0], dtype=torch.float32, device=self.device)
            cached = (g, g * torch.tensor(key[1], dtype=torch.float32, device=self.device))
            self._gae_cache[key] = cached
        return cached

    def compute_gae(
        self,
        values: torch.Tensor,
        bootstrap: torch.Tensor,
        gamma: float,
        lam: float,
        *,
        rewards: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generalised advantage estimates and returns, ``([envs, steps], [envs, steps])``.

        ``values`` ``[envs, steps]`` and ``bootstrap`` ``[envs]`` must be on the rewards' scale
        (denormalised); ``rewards`` defaults to the raw ``self.rewards``. Per env row::

            delta_t = r_t + gamma * V_{t+1} * (1 - terminal_t) - V_t
            A_t     = delta_t + gamma * lam * (1 - terminal_t) * A_{t+1}

        where V_{t+1} of an episode's last step is ``bootstrap`` (truncation: the chain is not
        cut) and a true terminal (rollback) zeroes it. Returns = A + V. Padding gets 0 for both.

        Envs never mix: the recursion is evaluated for all rows at once as one matrix product,
        ``A = delta @ W`` with ``W[k, t] = (gamma lam)^(k - t)`` for ``k >= t``. That is exact
        here because a row holds one episode, so a terminal can only be its last valid step,
        after which ``delta`` is 0; it replaces a Python loop of ``steps`` small device ops.
        All constants are device tensors (`gae_constants`); no host sync.
        """
        if values.shape != (self.envs, self.steps):
            raise RolloutError(
                f"values have shape {tuple(values.shape)}, expected {(self.envs, self.steps)}"
            )
        if bootstrap.shape != (self.envs,):
            raise RolloutError(
                f"bootstrap has shape {tuple(bootstrap.shape)}, expected ({self.envs},)"
            )
        r = self.rewards if rewards is None else rewards
        dtype = values.dtype
        gamma_t, gamma_lambda = self.gae_constants(gamma, lam)
        gamma_t, gamma_lambda = gamma_t.to(dtype), gamma_lambda.to(dtype)
        valid = self.valid
        valid_f = valid.to(dtype)
        nonterminal = (~self.terminal).to(dtype)
        # The last valid step of each row takes the bootstrap value as V_{t+1}.
        next_valid = torch.cat([valid[:, 1:], torch.zeros_like(valid[:, :1])], dim=1)
        is_last = valid & ~next_valid
        shifted = torch.cat([values[:, 1:], bootstrap[:, None].to(dtype)], dim=1)
        next_values = torch.where(is_last, bootstrap[:, None].to(dtype), shifted)
        delta = (r.to(dtype) + gamma_t * next_values * nonterminal - values) * valid_f
        steps = torch.arange(self.steps, device=values.device)
        lag = steps[:, None] - steps[None, :]  # k - t
        weights = torch.where(lag >= 0, gamma_lambda ** lag.clamp(min=0).to(dtype), 0)
        advantages = (delta @ weights) * valid_f
        returns = (advantages + values) * valid_f
        return advantages, returns

    def normalize_advantages(
        self,
        advantages: torch.Tensor,
        *,
        mask: torch.Tensor | None = None,
        std_floor: float = ADV_STD_FLOOR,
    ) -> torch.Tensor:
        """`normalize_advantages` over the valid steps (and ``mask``, if given)."""
        where = self.valid if mask is None else self.valid & mask
        return normalize_advantages(advantages, where, std_floor=std_floor)
