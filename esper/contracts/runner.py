"""The runner contract: how a batch of host-training episodes becomes one rollout.

``esper train`` alternates two things: a runner plays one episode in each of K environments
with the current policy and fills a `esper.rl.rollout.RolloutBuffer`; the agent updates the policy
from it. A runner plugin's factory is called as ``factory(config)`` and returns a `Runner`.

Runners differ only in *how* environments advance (one after another, interleaved on CUDA
streams, in remote actors); the per-step transaction — observe, decide, act, reward, record —
is `esper.engine.lockstep.LockstepLoop`, shared by all of them so that they produce the same
rollouts from the same seeds.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from esper.telemetry import Event

if TYPE_CHECKING:
    from esper.contracts.reward import RewardFunction
    from esper.contracts.trainable import TrainablePolicy
    from esper.engine.environment import Environment, EpochResult
    from esper.rl.rollout import RolloutBuffer


class EnvFactory(Protocol):
    """Builds the environment for buffer row ``index`` from its seed."""

    def __call__(self, index: int, seed: int, *, use_stream: bool = False) -> Environment: ...


@attrs.frozen(kw_only=True)
class EpisodeResult:
    """One environment's episode, as the training loop reports it."""

    env: int
    seed: int
    epochs: int
    val_accuracy: float
    val_loss: float
    #: Sum of the raw (unnormalised) rewards of the episode's transitions.
    reward: float
    #: The governor rolled the host back, ending the episode early (a true terminal).
    rolled_back: bool
    params_total: int
    seeds_fossilized: int
    #: How often each op was chosen (by name).
    actions: Mapping[str, int] = attrs.field(factory=dict)
    #: Training FLOPs the episode's host training spent (`esper.engine.compute`); 0 where a
    #: runner does not count them.
    flops_train: int = 0
    #: The controller's decisions in the episode (`esper.contracts.policy.Policy.decision_flops`).
    flops_control: int = 0
    #: The runner lost the environment mid-episode (a remote worker died): the episode was
    #: truncated after its last rewarded step, not ended by the host.
    lost: bool = False


@attrs.define(kw_only=True)
class RolloutJob:
    """Everything a runner needs for one update's episodes."""

    factory: EnvFactory
    #: One seed per environment (buffer row ``i`` runs ``seeds[i]``).
    seeds: Sequence[int]
    policy: TrainablePolicy
    #: One reward function per environment (rewards may keep per-episode state).
    rewards: Sequence[RewardFunction]
    buffer: RolloutBuffer
    #: Called after every finished epoch of every environment (progress, telemetry).
    on_epoch: Callable[[int, EpochResult], None] | None = None
    #: Receives the loop's events (episode outcomes, reward-hacking suspicions).
    emit: Callable[[Event], None] | None = None


class Runner(abc.ABC):
    @abc.abstractmethod
    def collect(self, job: RolloutJob) -> list[EpisodeResult]:
        """Play one episode per seed with ``job.policy`` and fill ``job.buffer``."""
