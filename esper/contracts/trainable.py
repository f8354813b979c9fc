"""The contract of a controller an agent can train.

A policy registered with ``PolicySpec(trainable=True)`` is a `TrainablePolicy`: an
actor-critic over the factored action space (`esper.rl.action_space`) that acts for a batch of
environments at once (`TrainablePolicy.act`) and re-scores stored actions over a whole rollout
(`TrainablePolicy.evaluate`). Agents (PPO) and runners use only this contract.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from esper.contracts.actions import Action
from esper.contracts.policy import Policy
from esper.contracts.signals import Signals

if TYPE_CHECKING:
    from esper.rl.action_space import ActionMasks, ActionSpace
    from esper.rl.observation import Observation

#: A recurrent policy's state: LSTM ``(h, c)``, each ``[layers, envs, hidden]``.
Hidden = tuple[torch.Tensor, torch.Tensor]


class PolicyStep(NamedTuple):
    """One rollout step for a batch of envs (all on the policy's device)."""

    #: ``[envs, heads]`` int64 head indices in `esper.rl.action_space.HEADS` order.
    actions: torch.Tensor
    #: ``[envs, heads]`` log-probability per head (0 for a head with one valid value).
    log_probs: torch.Tensor
    #: ``[envs, heads]`` entropy per head, normalised to [0, 1].
    entropies: torch.Tensor
    #: ``[envs]`` V(s).
    value: torch.Tensor
    #: The recurrent state after this step (inference-mode tensors).
    hidden: Hidden
    #: ``[envs, ops]`` the op head's raw logits (telemetry).
    op_logits: torch.Tensor


class Evaluation(NamedTuple):
    """Stored actions re-scored over a rollout, ``[envs, steps, ...]``."""

    log_probs: torch.Tensor
    entropies: torch.Tensor
    values: torch.Tensor
    #: ``[envs, steps, heads]`` causal relevance of each head for the stored op.
    relevance: torch.Tensor


class Decision(NamedTuple):
    """What `TrainablePolicy.act` returns: the actions and what a rollout buffer stores."""

    actions: list[Action]
    step: PolicyStep
    obs: Observation
    masks: ActionMasks


class TrainablePolicy(Policy):
    """An actor-critic controller that an agent trains from rollouts."""

    @property
    @abc.abstractmethod
    def network(self) -> nn.Module:
        """The module whose parameters the agent optimises (built on first use)."""

    @property
    @abc.abstractmethod
    def space(self) -> ActionSpace:
        """The action space (available once the policy is built for its slots)."""

    @abc.abstractmethod
    def build(self, slot_ids: Sequence[str]) -> nn.Module:
        """Create the network for these slots (idempotent)."""

    @abc.abstractmethod
    def act(
        self,
        signals: Sequence[Signals],
        hidden: Hidden | None = None,
        *,
        deterministic: bool | None = None,
    ) -> Decision:
        """One decision for each of several envs in one batched call (no gradients)."""

    @abc.abstractmethod
    def initial_hidden(self, batch: int) -> Hidden:
        """A zero recurrent state for ``batch`` envs."""

    @abc.abstractmethod
    def evaluate(self, obs: Observation, masks: ActionMasks, actions: torch.Tensor) -> Evaluation:
        """Re-score ``actions`` ``[envs, steps, heads]`` with gradients; each row is one episode
        starting from a zero state."""

    def value_parameters(self) -> list[nn.Parameter]:
        """The parameters only the value estimate uses (its head, not a shared trunk), which an
        agent may train apart from the policy. Default: none."""
        return []

    def observe_rollout(self, obs: Observation, valid: torch.Tensor) -> None:
        """Take in a rollout's observations (``valid`` ``[envs, steps]`` marks real steps), for a
        policy that keeps statistics of its input, such as an observation normaliser. The agent
        calls it once per rollout, after its update (so the update re-scores the rollout with
        the statistics it was collected with), and before an imitation fit. Default: nothing."""
