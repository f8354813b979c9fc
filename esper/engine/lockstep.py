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
   (`esper.reward.RewardContext`) and the raw reward goes into the buffer;
5. after the last epoch every surviving episode is truncated by the time limit, and the
   value of its final state (policy on `Environment.peek_signals`, no sampling) is stored so
   GAE can bootstrap through the cut.

Decisions depend only on the group's observations and the policy's random stream, so a
runner that steps the same environments in the same groups gets the same rollout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import attrs
import torch

from esper.engine.environment import Environment, EpochResult
from esper.engine.events import EpisodeFinished, RewardHackingSuspected
from esper.lifecycle import Stage
from esper.policy import Hidden
from esper.reward import RewardBreakdown, RewardContext, suspicions
from esper.runner import EpisodeResult, RolloutJob

#: How a runner advances environments through the first half of their epoch.
Advance = Callable[[Sequence[Environment]], None]


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


def advance_in_turn(envs: Sequence[Environment]) -> None:
    """Each environment runs its whole first half before the next starts."""
    for env in envs:
        env.observe()


class LockstepLoop:
    """Runs one episode in each of a group of environments (buffer rows ``rows``)."""

    def __init__(self, job: RolloutJob, advance: Advance = advance_in_turn) -> None:
        self.job = job
        self.advance = advance

    def run(self, envs: Sequence[Environment], rows: Sequence[int]) -> list[EpisodeResult]:
        job, policy, buffer = self.job, self.job.policy, self.job.buffer
        n = len(envs)
        if n != len(rows):
            raise ValueError("one buffer row per environment")
        policy.build(envs[0].model.slot_ids)
        hidden = policy.initial_hidden(n)
        steps = envs[0].max_epochs
        active = list(range(n))
        reward_sums = [0.0] * n
        rolled_back = [False] * n
        last: list[EpochResult | None] = [None] * n
        first: list[tuple[float, float] | None] = [None] * n
        ops: list[Counter[str]] = [Counter() for _ in range(n)]
        for t in range(steps):
            self.advance([envs[i] for i in active])
            survivors = []
            for i in active:
                observed = envs[i].pending
                if observed is None:
                    raise RuntimeError("advance() left an environment unobserved")
                if first[i] is None:
                    first[i] = (observed.val_accuracy, observed.val_loss)
                if observed.rolled_back:
                    rolled_back[i] = True
                    envs[i].pending = None
                    if t > 0:
                        buffer.end_episode(rows[i], t - 1, terminal=True)
                else:
                    survivors.append(i)
            active = survivors
            if not active:
                break
            index, state = _select(hidden, active)
            decision = policy.act([envs[i].pending.signals for i in active], state)  # type: ignore[union-attr]
            with torch.inference_mode():
                hidden[0].index_copy_(1, index, decision.step.hidden[0])
                hidden[1].index_copy_(1, index, decision.step.hidden[1])
            active_rows = [rows[i] for i in active]
            buffer.record(active_rows, t, decision)
            rewards = []
            for i, action in zip(active, decision.actions, strict=True):
                result = envs[i].act(action)
                last[i] = result
                ops[i][result.action.op.name] += 1
                init = first[i]
                context = reward_context(
                    result,
                    initial_accuracy=None if init is None else init[0],
                    initial_loss=None if init is None else init[1],
                )
                breakdown = job.rewards[i](context)
                value = breakdown.total
                if job.emit is not None:
                    self._report_suspicions(rows[i], context, breakdown)
                reward_sums[i] += value
                rewards.append(value)
                if job.on_epoch is not None:
                    job.on_epoch(rows[i], result)
            buffer.set_rewards(active_rows, t, rewards)
        if active:
            for i in active:
                buffer.end_episode(rows[i], steps - 1, terminal=False)
            _, state = _select(hidden, active)
            final = policy.act([envs[i].peek_signals() for i in active], state, deterministic=True)
            buffer.set_bootstrap([rows[i] for i in active], final.step.value)
        results = []
        for i, env in enumerate(envs):
            done = last[i]
            stages = [r.state.stage for r in env.model.records.values() if r.state is not None]
            results.append(
                EpisodeResult(
                    env=rows[i],
                    seed=env.seed,
                    epochs=env.epoch,
                    val_accuracy=done.val_accuracy if done is not None else float("nan"),
                    val_loss=done.val_loss if done is not None else float("nan"),
                    reward=reward_sums[i],
                    rolled_back=rolled_back[i],
                    params_total=env.model.parameter_counts().total,
                    seeds_fossilized=stages.count(Stage.FOSSILIZED),
                    actions=dict(ops[i]),
                )
            )
            if job.emit is not None:
                r = results[-1]
                job.emit(
                    EpisodeFinished(
                        env_id=r.env,
                        epoch=r.epochs,
                        **{k: v for k, v in attrs.asdict(r, recurse=False).items() if k != "env"},
                    )
                )
        return results

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
