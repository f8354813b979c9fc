"""The learning-algorithm contract: an agent trains a `esper.contracts.policy.TrainablePolicy` from rollouts.

An agent plugin's factory is called as ``factory(config, policy=TrainablePolicy)`` and returns
an `Agent`. The runner collects a rollout into an `esper.rl.rollout.RolloutBuffer` with the
policy, then calls `Agent.update`, which changes the policy's network in place and returns
plain-float metrics. Rewards handed to the buffer are on their raw scale; normalising them is
the agent's business (it owns the normalisers). The runner builds its reward function with
``gamma=agent.gamma`` so potential-based shaping uses the agent's discount.

`Agent.state_dict` holds everything an agent adds to the policy's own state (optimizer,
normalisers, counters) as plain data and tensors, loadable with
``torch.load(..., weights_only=True)``; the network's weights are the policy's to checkpoint.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esper.contracts.trainable import TrainablePolicy
    from esper.rl.rollout import RolloutBuffer


class Agent(abc.ABC):
    """A learning algorithm bound to one trainable policy."""

    @property
    @abc.abstractmethod
    def policy(self) -> TrainablePolicy:
        """The policy this agent trains."""

    @property
    @abc.abstractmethod
    def gamma(self) -> float:
        """The discount factor (rewards that shape with potentials must use the same one)."""

    @abc.abstractmethod
    def update(self, buffer: RolloutBuffer) -> dict[str, float]:
        """Learn from one filled rollout; returns metrics as plain floats."""

    def imitate(self, buffer: RolloutBuffer, *, epochs: int, lr: float) -> dict[str, float]:
        """Fit the policy to a teacher's rollout: its heads to the stored actions (behaviour
        cloning) and its critic to the returns (``esper train --init imitate:...``), ``epochs``
        full-batch steps at learning rate ``lr``. Returns
        metrics as plain floats. An agent that cannot imitate keeps this default."""
        from esper.errors import EsperError

        raise EsperError(f"agent {type(self).__name__} does not support imitation (--init)")

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Optimizer, normaliser and counter state (plain data and CPU tensors)."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict` (optimizer state applies once the policy's network exists)."""
