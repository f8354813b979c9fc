"""The per-epoch transaction every runner shares: observe, decide, act, reward, record.

`LockstepLoop.run` steps a group of environments through one episode together:

1. every active environment runs the first half of its epoch (``advance``: the runner decides
   how — one after another, interleaved on CUDA streams, remotely);
2. an environment whose governor rolled the host back ends its episode there: its previous
   transition becomes a true terminal (the agent gives it the rollback penalty); a rollback
   at the very first epoch leaves no transition and is only counted;
3. the policy decides for all remaining environments in one batched call (LSTM state carried
   per environment), and the decisions are written into the rollout buffer;
4. each environment executes its action; its reward function scores the step from plain data
   (`esper.contracts.reward.RewardContext`) and the raw reward goes into the buffer;
5. after the last epoch every surviving episode is truncated by the time limit, and the
   value of its final state (policy on `Environment.peek_signals`, no sampling) is stored so
   GAE can bootstrap through the cut.

Decisions depend only on the group's observations and the policy's random stream, so a
runner that steps the same environments in the same groups gets the same rollout.

Two seams let a runner keep its environments elsewhere (``esper.runners.ray`` keeps each in
a remote actor and hands the loop proxies that satisfy `LoopEnvironment`): ``advance`` runs
the first halves, ``execute`` the decided actions (`execute_in_turn`: one environment at a
time, as the loop scores them). Either may report an environment as *lost* (its worker
died): its episode is truncated after its last rewarded step, never a true terminal, and
bootstraps from the best value estimate the loop has (V of the state whose decision was
lost, else V of the last recorded state); a loss before any rewarded step leaves the row
empty. The loss is counted in `EpisodeResult.lost`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import attrs
import torch

from esper.contracts.actions import Action
from esper.contracts.reward import RewardBreakdown, RewardContext, suspicions
from esper.contracts.runner import EpisodeResult, RolloutJob
from esper.contracts.signals import Signals
from esper.contracts.trainable import Decision, Hidden, PolicyStep
from esper.engine.environment import EpochResult, Observed
from esper.engine.events import EpisodeFinished, RewardHackingSuspected
from esper.lifecycle import Stage
from esper.rl.action_space import ActionMasks
from esper.rl.observation import Observation

# -- what the loop needs of an environment -------------------------------------------------------
#
# `esper.engine.environment.Environment` satisfies these protocols as it is; a runner whose
# environments live elsewhere passes proxies that do too.


class SeedView(Protocol):
    @property
    def stage(self) -> Stage: ...


class RecordView(Protocol):
    @property
    def state(self) -> SeedView | None: ...


class CountsView(Protocol):
    @property
    def total(self) -> int: ...


class ModelView(Protocol):
    """The parts of `esper.growth.model.MorphogeneticModel` the loop reads."""

    @property
    def slot_ids(self) -> list[str]: ...

    @property
    def records(self) -> Mapping[str, RecordView]: ...

    def parameter_counts(self) -> CountsView: ...


class ComputeView(Protocol):
    @property
    def train(self) -> int: ...


class LoopEnvironment(Protocol):
    """What `LockstepLoop` reads and calls on one environment."""

    #: The observed first half of the current epoch (the loop clears it after a rollback).
    pending: Observed | None

    @property
    def seed(self) -> int: ...

    @property
    def epoch(self) -> int: ...

    @property
    def max_epochs(self) -> int: ...

    @property
    def model(self) -> ModelView: ...

    @property
    def compute(self) -> ComputeView: ...

    def observe(self) -> Observed: ...

    def act(self, action: Action) -> EpochResult: ...

    def peek_signals(self) -> Signals: ...


E = TypeVar("E", bound=LoopEnvironment)

#: How a runner advances environments through the first half of their epoch. It returns the
#: positions (in the sequence it was given) of environments it lost, or None.
Advance = Callable[[Sequence[E]], Collection[int] | None]
#: How a runner executes the decided actions: one result per environment, in order (None: the
#: environment was lost). The loop consumes the results one at a time.
Execute = Callable[[Sequence[E], Sequence[Action]], Iterable[EpochResult | None]]


def reward_context(
    result: EpochResult, *, initial_accuracy: float | None, initial_loss: float | None
) -> RewardContext:
    """The plain-data view of one executed step that rewards judge."""
    return RewardContext(
        signals=result.signals,
        action=result.action,
        action_ok=result.action_ok,
        host_params=result.params_host,
        seed_params=result.seed_params,
        alphas_before=result.alphas_before,
        alphas_after=result.alphas_after,
        stages_after=result.stages_after,
        germinated_at=result.germinated_at,
        all_off_accuracy=result.all_off_accuracy,
        initial_accuracy=initial_accuracy,
        initial_loss=initial_loss,
    )


def _select(hidden: Hidden, active: list[int]) -> tuple[torch.Tensor, Hidden]:
    """The recurrent state of the ``active`` environments (and their index tensor)."""
    index = torch.tensor(active, device=hidden[0].device)
    with torch.inference_mode():
        return index, (hidden[0].index_select(1, index), hidden[1].index_select(1, index))


def _store(hidden: Hidden, index: torch.Tensor, new: Hidden) -> None:
    """Write the ``index`` environments' new state into ``hidden`` in place (review T3-3: one
    ``index_copy_`` per tensor, nothing cloned; the other environments' rows stay as they are)."""
    with torch.inference_mode():
        hidden[0].index_copy_(1, index, new[0])
        hidden[1].index_copy_(1, index, new[1])


def _take(decision: Decision, keep: Sequence[int]) -> Decision:
    """The rows ``keep`` of a batched decision (environments lost while acting are left out)."""
    index = torch.tensor(list(keep), dtype=torch.long)

    def rows(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
        return x.index_select(dim, index.to(x.device))

    step = decision.step
    return Decision(
        actions=[decision.actions[j] for j in keep],
        step=PolicyStep(
            actions=rows(step.actions),
            log_probs=rows(step.log_probs),
            entropies=rows(step.entropies),
            value=rows(step.value),
            hidden=(rows(step.hidden[0], 1), rows(step.hidden[1], 1)),
            op_logits=rows(step.op_logits),
        ),
        obs=Observation(
            features=rows(decision.obs.features), blueprints=rows(decision.obs.blueprints)
        ),
        masks=ActionMasks(*(rows(m) for m in decision.masks)),
    )


def advance_in_turn(envs: Sequence[LoopEnvironment]) -> None:
    """Each environment runs its whole first half before the next starts."""
    for env in envs:
        env.observe()


def execute_in_turn(
    envs: Sequence[LoopEnvironment], actions: Sequence[Action]
) -> Iterator[EpochResult]:
    """Each environment acts when the loop asks for its result (so its events come in order)."""
    for env, action in zip(envs, actions, strict=True):
        yield env.act(action)


@attrs.define(eq=False)
class _Episode(Generic[E]):
    """One environment's episode as the loop follows it."""

    env: E
    #: The environment's buffer row.
    row: int
    #: Its column in the loop's recurrent state.
    column: int
    reward_sum: float = 0.0
    rolled_back: bool = False
    lost: bool = False
    #: The last executed epoch, and the accuracy and loss of the first observed one.
    last: EpochResult | None = None
    first: tuple[float, float] | None = None
    ops: Counter[str] = attrs.field(factory=Counter)
    #: The controller's FLOPs on this episode's decisions (the loop's policy decides, so the
    #: loop counts them, for remote environments too).
    flops_control: int = 0

    def result(self) -> EpisodeResult:
        env, done = self.env, self.last
        stages = [r.state.stage for r in env.model.records.values() if r.state is not None]
        return EpisodeResult(
            env=self.row,
            seed=env.seed,
            epochs=env.epoch,
            val_accuracy=done.val_accuracy if done is not None else float("nan"),
            val_loss=done.val_loss if done is not None else float("nan"),
            reward=self.reward_sum,
            rolled_back=self.rolled_back,
            params_total=env.model.parameter_counts().total,
            seeds_fossilized=stages.count(Stage.FOSSILIZED),
            actions=dict(self.ops),
            lost=self.lost,
            flops_train=env.compute.train,
            flops_control=self.flops_control,
        )


class LockstepLoop(Generic[E]):
    """Runs one episode in each of a group of environments (buffer rows ``rows``)."""

    def __init__(
        self,
        job: RolloutJob,
        advance: Advance[E] = advance_in_turn,
        execute: Execute[E] = execute_in_turn,
    ) -> None:
        self.job = job
        self.advance = advance
        self.execute = execute

    def run(self, envs: Sequence[E], rows: Sequence[int]) -> list[EpisodeResult]:
        if len(envs) != len(rows):
            raise ValueError("one buffer row per environment")
        episodes = [
            _Episode(env, row, i) for i, (env, row) in enumerate(zip(envs, rows, strict=True))
        ]
        self.job.policy.build(envs[0].model.slot_ids)
        hidden = self.job.policy.initial_hidden(len(envs))
        steps = envs[0].max_epochs
        active = episodes
        for t in range(steps):
            active = self._observe(active, t)
            if active:
                active = self._decide_and_act(active, t, hidden)
            if not active:
                break
        if active:
            self._truncate(active, steps, hidden)
        results = [episode.result() for episode in episodes]
        if self.job.emit is not None:
            for r in results:
                self.job.emit(
                    EpisodeFinished(
                        env_id=r.env,
                        epoch=r.epochs,
                        **{k: v for k, v in attrs.asdict(r, recurse=False).items() if k != "env"},
                    )
                )
        return results

    def _observe(self, active: list[_Episode[E]], t: int) -> list[_Episode[E]]:
        """The first half of epoch ``t`` for every active episode; returns those that go on
        (not lost, not rolled back)."""
        buffer = self.job.buffer
        for j in self.advance([e.env for e in active]) or ():
            episode = active[j]
            episode.lost = True
            if t > 0:
                # V(s_t) never arrived: bootstrap from V(s_{t-1}), the closest estimate.
                buffer.end_episode(episode.row, t - 1, terminal=False)
                buffer.set_bootstrap([episode.row], buffer.values[episode.row, t - 1].reshape(1))
        survivors = []
        for episode in active:
            if episode.lost:
                continue
            observed = episode.env.pending
            if observed is None:
                raise RuntimeError("advance() left an environment unobserved")
            if episode.first is None:
                episode.first = (observed.val_accuracy, observed.val_loss)
            if observed.rolled_back:
                episode.rolled_back = True
                episode.env.pending = None
                if t > 0:
                    buffer.end_episode(episode.row, t - 1, terminal=True)
            else:
                survivors.append(episode)
        return survivors

    def _decide_and_act(
        self, active: list[_Episode[E]], t: int, hidden: Hidden
    ) -> list[_Episode[E]]:
        """One batched decision for the active episodes, executed and scored; returns those
        still running (an environment lost while acting drops out)."""
        job, buffer = self.job, self.job.buffer
        index, state = _select(hidden, [e.column for e in active])
        decision = job.policy.act([e.env.pending.signals for e in active], state)  # type: ignore[union-attr]
        _store(hidden, index, decision.step.hidden)
        per_decision = job.policy.decision_flops()
        for episode in active:
            episode.flops_control += per_decision
        executed = self.execute([e.env for e in active], decision.actions)
        kept: list[int] = []
        rewards = []
        for j, (episode, result) in enumerate(zip(active, executed, strict=True)):
            if result is None:
                episode.lost = True
                if t > 0:
                    # Transition t never got its reward; the decision's V(s_t) is exactly
                    # the bootstrap that truncating after step t - 1 needs.
                    buffer.end_episode(episode.row, t - 1, terminal=False)
                    buffer.set_bootstrap([episode.row], decision.step.value[j : j + 1])
                continue
            kept.append(j)
            rewards.append(self._score(episode, result))
        if len(kept) < len(active):
            decision = _take(decision, kept)
            active = [active[j] for j in kept]
        if active:
            buffer.record([e.row for e in active], t, decision)
            buffer.set_rewards([e.row for e in active], t, rewards)
        return active

    def _score(self, episode: _Episode[E], result: EpochResult) -> float:
        """The raw reward of one executed step (and the episode's bookkeeping)."""
        job = self.job
        episode.last = result
        episode.ops[result.action.op.name] += 1
        init = episode.first
        context = reward_context(
            result,
            initial_accuracy=None if init is None else init[0],
            initial_loss=None if init is None else init[1],
        )
        breakdown = job.rewards[episode.column](context)  # by position in the group
        if job.emit is not None:
            self._report_suspicions(episode.row, context, breakdown)
        episode.reward_sum += breakdown.total
        if job.on_epoch is not None:
            job.on_epoch(episode.row, result)
        return breakdown.total

    def _truncate(self, active: list[_Episode[E]], steps: int, hidden: Hidden) -> None:
        """The time limit ends the surviving episodes: bootstrap from V of their final state."""
        buffer = self.job.buffer
        for episode in active:
            buffer.end_episode(episode.row, steps - 1, terminal=False)
        _, state = _select(hidden, [e.column for e in active])
        final = self.job.policy.act(
            [e.env.peek_signals() for e in active], state, deterministic=True
        )
        buffer.set_bootstrap([e.row for e in active], final.step.value)

    def _report_suspicions(
        self, row: int, context: RewardContext, breakdown: RewardBreakdown
    ) -> None:
        emit = self.job.emit
        if emit is None:
            return
        for kind, slot in suspicions(context, breakdown):
            view = (
                None
                if slot is None
                else next((v for v in context.signals.slots if v.slot_id == slot), None)
            )
            emit(
                RewardHackingSuspected(
                    env_id=row,
                    epoch=context.epoch,
                    kind=kind,
                    slot_id=slot,
                    contribution=None if view is None else view.contribution,
                    counterfactual_total=context.counterfactual_total,
                    action=context.action.op.name,
                )
            )


if TYPE_CHECKING:
    from esper.engine.environment import Environment

    def _environment_conforms(env: Environment) -> LoopEnvironment:
        return env  # mypy checks `Environment` against the protocol here
