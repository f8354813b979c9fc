"""Imitation warm start (``esper train --init imitate:<controller>``).

An untrained controller churns, so PPO would spend its first, expensive episodes unlearning
noise. Instead the student first plays back a teacher: any policy plugin (``heuristic``,
``gradient``) or a ``policy.pt``. The teacher runs whole host-training episodes on seeds of its
own; at every epoch the student sees the same observation (its LSTM state carried along the
teacher's trajectory, as it would be when acting) and the teacher's decision is stored as the
step's action, with the reward the run's reward function gives it. The agent then fits the
student's heads to those actions and its critic to their returns (`Agent.imitate`), and PPO
takes over. Episodes held out of the fit measure how often the student, acting greedily on a
teacher's trajectory, chooses exactly the teacher's action (every causally relevant head).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from esper.config.schema import IMITATE_PREFIX
from esper.config.structuring import structure_component
from esper.contracts.actions import Action, Op
from esper.contracts.agent import Agent
from esper.contracts.policy import Policy
from esper.contracts.reward import RewardFunction
from esper.contracts.trainable import Decision, TrainablePolicy
from esper.engine.environment import Environment
from esper.engine.lockstep import reward_context
from esper.errors import ConfigError
from esper.growth.catalog import BlueprintCatalog
from esper.recipes.policy_checkpoint import use_policy_checkpoint
from esper.registry import Registries
from esper.rl.action_space import ActionMasks, ActionSpace, ActionSpaceError
from esper.rl.observation import feature_size
from esper.rl.rollout import RolloutBuffer

#: Seeds of the teacher's episodes: far from those of PPO's episodes and of esper eval's.
IMITATION_SEED_OFFSET = 500_000


def teacher_from_spec(spec: str, registries: Registries, catalog: BlueprintCatalog) -> Policy:
    """The controller ``imitate:<name>`` names: a policy plugin, or a ``policy.pt``."""
    name = spec[len(IMITATE_PREFIX) :]
    section: dict[str, Any] = {"name": name}
    if name.endswith(".pt") or Path(name).is_file():
        path = Path(name)
        if not path.is_file():
            raise ConfigError([f"config.train.init: {name}: no such policy checkpoint"])
        raw: dict[str, Any] = {}
        use_policy_checkpoint(raw, path)
        section = raw["policy"]
    component = structure_component(section, "config.train.init", registries, "policies")
    entry = registries["policies"].get(component.id)
    policy: Policy = entry.build(component.options, catalog=catalog)
    return policy


def teacher_row(
    space: ActionSpace, action: Action, slot_ids: Sequence[str], masks: ActionMasks
) -> list[int] | None:
    """The head indices of the teacher's action, or None when the action space cannot express
    it or the masks forbid it (the student cannot be taught to choose it)."""
    try:
        row = space.from_action(action, slot_ids)
    except ActionSpaceError:
        return None
    op = row[0]
    legal = bool(masks.op[0, op]) and (
        action.op is Op.WAIT or bool(masks.slot_by_op[0, op, row[1]])
    )
    if action.op is Op.GERMINATE:
        legal = legal and bool(masks.blueprint[0, row[2]])
    return row if legal else None


@attrs.define
class TeacherEpisode:
    """What one teacher episode taught: decisions, how many the student matched, and how many
    the action space could not express (stored as WAIT)."""

    seed: int
    decisions: int = 0
    agreed: int = 0
    unexpressed: int = 0
    reward: float = 0.0


def play_teacher(
    env: Environment,
    teacher: Policy,
    student: TrainablePolicy,
    reward: RewardFunction,
    buffer: RolloutBuffer | None,
    row: int,
) -> TeacherEpisode:
    """One whole episode of ``teacher`` in ``env``, stored in ``buffer`` row ``row`` (None:
    only measured), with the student's greedy choice compared at every step."""
    space, slot_ids = student.space, tuple(env.model.slot_ids)
    wait = space.from_action(Action(), slot_ids)
    teacher.reset()
    hidden = student.initial_hidden(1)
    record = TeacherEpisode(seed=env.seed)
    first: tuple[float, float] | None = None
    for t in range(env.max_epochs):
        observed = env.observe()
        if first is None:
            first = (observed.val_accuracy, observed.val_loss)
        if observed.rolled_back:  # the governor ended the run: a true terminal
            env.pending = None
            if buffer is not None and t > 0:
                buffer.end_episode(row, t - 1, terminal=True)
            return record
        decision = student.act([observed.signals], hidden, deterministic=True)
        hidden = decision.step.hidden
        action = teacher.decide(observed.signals)
        taught = teacher_row(space, action, slot_ids, decision.masks)
        record.unexpressed += taught is None
        label = wait if taught is None else taught
        chosen = space.canonicalize(decision.step.actions[0].tolist())
        record.decisions += 1
        record.agreed += chosen == label
        result = env.act(action)
        context = reward_context(result, initial_accuracy=first[0], initial_loss=first[1])
        gained = reward(context).total
        record.reward += gained
        if buffer is not None:
            buffer.record([row], t, _labelled(decision, label))
            buffer.set_rewards([row], t, [gained])
    if buffer is not None and record.decisions:
        # The host-training run ends here: the returns are the rewards that followed.
        buffer.end_episode(row, record.decisions - 1, terminal=False)
    return record


def _labelled(decision: Decision, label: list[int]) -> Decision:
    step = decision.step
    actions = torch.tensor([label], dtype=step.actions.dtype, device=step.actions.device)
    return decision._replace(
        step=step._replace(actions=actions, log_probs=torch.zeros_like(step.log_probs))
    )


def imitation_seeds(root: int, count: int, stride: int) -> list[int]:
    """Seeds of the teacher's episodes (taught, then held out)."""
    return [root + IMITATION_SEED_OFFSET + k * stride for k in range(count)]


def agreement(episodes: Sequence[TeacherEpisode]) -> float | None:
    decisions = sum(e.decisions for e in episodes)
    return None if decisions == 0 else sum(e.agreed for e in episodes) / decisions


def summarize(
    spec: str,
    taught: Sequence[TeacherEpisode],
    heldout: Sequence[TeacherEpisode],
    metrics: dict[str, float],
) -> dict[str, Any]:
    """The ``imitation`` record of ``summary.json`` and the checkpoint. The taught episodes
    were played before the fit, so their agreement is the untrained student's; the held-out
    ones after it."""
    return {
        "teacher": spec[len(IMITATE_PREFIX) :],
        "episodes": len(taught),
        "decisions": sum(e.decisions for e in taught),
        "unexpressed": sum(e.unexpressed for e in (*taught, *heldout)),
        "teacher_reward": [round(e.reward, 6) for e in taught],
        "agreement_before": agreement(taught),
        "heldout_episodes": len(heldout),
        "heldout_decisions": sum(e.decisions for e in heldout),
        "agreement_heldout": agreement(heldout),
        "fit": metrics,
    }


def warm_start(
    *,
    spec: str,
    teacher: Policy,
    student: TrainablePolicy,
    agent: Agent,
    make_env: Callable[[int, int], Environment],
    make_reward: Callable[[], RewardFunction],
    seeds: Sequence[int],
    heldout: Sequence[int],
    epochs: int,
    lr: float,
    steps: int,
    on_episode: Callable[[str, TeacherEpisode], None] | None = None,
) -> dict[str, Any]:
    """Play the teacher on ``seeds``, fit the student to it, measure on ``heldout``."""
    buffer = RolloutBuffer(
        envs=len(seeds),
        steps=steps,
        space=student.space,
        obs_size=feature_size(student.space.num_slots),
        device=next(student.network.parameters()).device,
    )

    def play(
        kind: str, episode_seeds: Sequence[int], into: RolloutBuffer | None
    ) -> list[TeacherEpisode]:
        student.network.eval()
        played = []
        for row, seed in enumerate(episode_seeds):
            env = make_env(row, seed)
            played.append(play_teacher(env, teacher, student, make_reward(), into, row))
            if on_episode is not None:
                on_episode(kind, played[-1])
        return played

    taught = play("taught", seeds, buffer)
    metrics = agent.imitate(buffer, epochs=epochs, lr=lr)
    return summarize(spec, taught, play("held out", heldout, None), metrics)
