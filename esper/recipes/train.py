"""``esper train``: learn a growth controller with an agent across many host-training episodes.

Each update: the runner plays one episode in each of ``train.envs`` fresh environments with
the current policy (environment ``i`` of update ``u`` has seed ``run.seed + (u * envs + i) *
1009``, so every episode is reproducible on its own), the rewards score every step, and the
agent updates the policy from the rollout. Every ``train.checkpoint_every`` updates the
policy, the agent (optimizer and normalisers), the random state and the history are written
atomically to ``policy.pt``; `TrainingRun.restore` continues from it to the same weights an
uninterrupted run reaches. ``summary.json`` holds the training figures per update.

``policy.pt`` loads with ``torch.load(weights_only=True)``; its top-level ``network`` entry
is the controller's state dict, so ``esper run --policy-checkpoint policy.pt`` can use it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch

from esper.config import EsperConfig
from esper.config.loading import unstructure
from esper.contracts.agent import Agent
from esper.contracts.policy import Policy
from esper.contracts.reward import RewardFunction
from esper.contracts.runner import RolloutJob, Runner
from esper.contracts.trainable import TrainablePolicy
from esper.engine.compilation import CompileWatch, compile_module, configure
from esper.engine.environment import EpochResult
from esper.engine.events import (
    IMITATION_EVENT_KEYS,
    GraphsCompiled,
    ImitationFinished,
    TrainingAnomaly,
    UpdateCompleted,
)
from esper.errors import ConfigError, EsperError
from esper.recipes.factory import EnvironmentFactory, resolve_device
from esper.recipes.imitation import TeacherEpisode, imitation_seeds, teacher_from_spec, warm_start
from esper.recipes.interrupt import RunInterrupted, StopRequest
from esper.recipes.train_record import anomalies, decisions_per_hour, update_record
from esper.registry import Entry, Registries
from esper.registry.specs import RewardSpec
from esper.rl.observation import feature_size
from esper.rl.rollout import RolloutBuffer
from esper.rundir import layout
from esper.rundir.atomic import write_text_atomic
from esper.rundir.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from esper.rundir.session import RunSession
from esper.telemetry.events import RunResumed

CHECKPOINT_NAME = layout.POLICY_CHECKPOINT
SUMMARY_NAME = layout.SUMMARY
CHECKPOINT_SCHEMA = 1
#: Spacing of environment seeds (a prime, so nearby root seeds do not share episodes).
SEED_STRIDE = 1009

UpdateProgress = Callable[[dict[str, Any]], None]
EpochProgress = Callable[[int, EpochResult], None]


def _component_error(key: str, exc: Exception) -> ConfigError:
    return ConfigError([f"config.{key}: {exc}"])


def _check_components(config: EsperConfig, registries: Registries) -> None:
    """Refuse a config without the components esper train needs, or with a fixed policy."""
    comps = config.components
    for key in ("policy", "agent", "reward", "runner"):
        if key not in comps:
            raise ConfigError([f"config.{key}: esper train needs a {key} component"])
    policy_entry = registries["policies"].get(comps["policy"].id)
    if not getattr(policy_entry.spec, "trainable", False):
        raise ConfigError([f"config.policy: {policy_entry.id!r} is not trainable (try 'lstm')"])


def _agent_and_reward(
    config: EsperConfig, registries: Registries, policy: TrainablePolicy
) -> tuple[Agent, Entry[RewardSpec]]:
    """The configured agent for ``policy``, and the reward's entry, checked against the agent."""
    comps = config.components
    try:
        agent = (
            registries["agents"].get(comps["agent"].id).build(comps["agent"].options, policy=policy)
        )
    except ValueError as exc:
        raise _component_error("agent", exc) from None
    reward_entry = registries["rewards"].get(comps["reward"].id)
    try:
        # Built once now so a reward that cannot work with this agent (e.g. PBRS with
        # another discount) stops the run before any training.
        reward_entry.build(comps["reward"].options, gamma=agent.gamma)
    except ValueError as exc:
        raise _component_error("reward", exc) from None
    return agent, reward_entry


@attrs.define
class TrainingRun:
    config: EsperConfig
    registries: Registries
    session: RunSession
    policy: TrainablePolicy
    agent: Agent
    runner: Runner
    reward_entry: Entry[RewardSpec]
    factory: EnvironmentFactory
    #: The same environments training a share of each epoch's batches (`train.cheap_batches`).
    cheap_factory: EnvironmentFactory
    buffer: RolloutBuffer
    watch: CompileWatch
    #: The imitation warm start's teacher (``train.init``), and its record once it has run.
    teacher: Policy | None = None
    imitation: dict[str, Any] | None = None
    update: int = 0
    history: list[dict[str, Any]] = attrs.field(factory=list)
    started: float = attrs.field(factory=time.perf_counter)
    wall_before: float = 0.0

    @classmethod
    def build(cls, config: EsperConfig, registries: Registries, session: RunSession) -> TrainingRun:
        run, comps = config.run, config.components
        _check_components(config, registries)
        factory = EnvironmentFactory.from_config(
            config,
            registries,
            device=resolve_device(run.device),
            data_dir=Path(run.data_dir) if run.data_dir else None,
            emit=session.emit,
        )
        policy = factory.policy
        if not isinstance(policy, TrainablePolicy):
            raise EsperError(
                f"policy {config.components['policy'].id!r} does not implement TrainablePolicy"
            )
        # The slots (and so the network's shape) come from the host the task builds.
        probe = factory(0, run.seed)
        policy.build(probe.model.slot_ids)
        del probe
        # After the probe: the data is on the device, and the cheap factory shares it.
        cheap_factory = factory.cheaper(config.train.cheap_batches)
        configure(config.compile)
        # Batch sizes differ between acting (envs) and evaluating (envs x steps): dynamic.
        compile_module(policy.network, config.compile, dynamic=True)
        agent, reward_entry = _agent_and_reward(config, registries, policy)
        runner = registries["runners"].get(comps["runner"].id).build(comps["runner"].options)
        # Resolved now, so that a wrong teacher stops the run before any training.
        teacher = (
            teacher_from_spec(config.train.init, registries, factory.catalog)
            if config.train.init
            else None
        )
        buffer = RolloutBuffer(
            envs=config.train.envs,
            steps=run.epochs,
            space=policy.space,
            obs_size=feature_size(policy.space.num_slots),
            device=next(policy.network.parameters()).device,
        )
        return cls(
            config=config,
            registries=registries,
            session=session,
            policy=policy,
            agent=agent,
            runner=runner,
            reward_entry=reward_entry,
            factory=factory,
            cheap_factory=cheap_factory,
            buffer=buffer,
            watch=CompileWatch(config.compile),
            teacher=teacher,
        )

    @property
    def updates(self) -> int:
        train = self.config.train
        return math.ceil(train.episodes / train.envs)

    @property
    def cheap_updates(self) -> int:
        """The first updates, this many, play cheap episodes (`train.cheap_share`)."""
        # The epsilon keeps a share such as 0.29 of 100 updates at 29, not float's 28.99...
        return math.floor(self.config.train.cheap_share * self.updates + 1e-9)

    def seeds(self, update: int) -> list[int]:
        envs = self.config.train.envs
        return [self.config.run.seed + (update * envs + i) * SEED_STRIDE for i in range(envs)]

    def _rewards(self) -> list[RewardFunction]:
        options = self.config.components["reward"].options
        return [
            self.reward_entry.build(options, gamma=self.agent.gamma)
            for _ in range(self.config.train.envs)
        ]

    # -- the loop -------------------------------------------------------------------------------

    def run(
        self,
        on_update: UpdateProgress | None = None,
        on_epoch: EpochProgress | None = None,
        on_imitation: Callable[[str, TeacherEpisode], None] | None = None,
    ) -> dict[str, Any]:
        if self.update == 0:
            # One seeded stream for sampling actions and the agent's randomness; environments
            # draw from streams of their own and never touch it.
            torch.manual_seed(self.config.run.seed)
        every = self.config.train.checkpoint_every
        if self.teacher is not None and self.update == 0 and self.imitation is None:
            self.imitation = self._imitate(on_imitation)
            self.checkpoint()  # the imitated controller, before any PPO update
        with StopRequest(unit="update") as stop:
            self._loop(every, stop, on_update, on_epoch)
        summary = self.summary()
        write_text_atomic(self.session.run_dir / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
        return summary

    def _imitate(self, on_episode: Callable[[str, TeacherEpisode], None] | None) -> dict[str, Any]:
        """The imitation warm start (`esper.recipes.imitation`)."""
        if self.teacher is None:
            raise EsperError("no teacher to imitate (train.init is empty)")
        train, run = self.config.train, self.config.run
        seeds = imitation_seeds(
            run.seed, train.imitation_episodes + train.imitation_heldout, SEED_STRIDE
        )
        options = self.config.components["reward"].options
        started = time.perf_counter()
        record = warm_start(
            spec=train.init,
            teacher=self.teacher,
            student=self.policy,
            agent=self.agent,
            make_env=self.cheap_factory,
            make_reward=lambda: self.reward_entry.build(options, gamma=self.agent.gamma),
            seeds=seeds[: train.imitation_episodes],
            heldout=seeds[train.imitation_episodes :],
            epochs=train.imitation_epochs,
            lr=train.imitation_lr,
            steps=run.epochs,
            on_episode=on_episode,
        )
        record["batches_per_epoch"] = self.cheap_factory.epoch_batches()
        record["wall_time_s"] = round(time.perf_counter() - started, 3)
        self.session.emit(ImitationFinished(**{k: record[k] for k in IMITATION_EVENT_KEYS}))
        return record

    def _loop(
        self,
        every: int,
        stop: StopRequest,
        on_update: UpdateProgress | None,
        on_epoch: EpochProgress | None,
    ) -> None:
        while self.update < self.updates:
            u = self.update
            record = self._play_and_learn(u, on_epoch)
            self.history.append(record)
            self.update += 1
            self.session.emit(
                UpdateCompleted(
                    update=u,
                    episodes=record["episodes"],
                    mean_reward=record["mean_reward"],
                    mean_accuracy=record["mean_accuracy"],
                    rollbacks=record["rollbacks"],
                    metrics=record["metrics"],
                    flops_train=record["flops_train"],
                )
            )
            new_graphs = self.watch.poll()
            if new_graphs:
                self.session.emit(
                    GraphsCompiled(
                        at=u,
                        new=new_graphs,
                        total=self.watch.total,
                        limit=self.watch.settings.limit,
                    )
                )
            for kind, value in anomalies(u, record["metrics"]):
                self.session.emit(TrainingAnomaly(update=u, kind=kind, value=value))
            if on_update is not None:
                on_update(record)
            due = self.update % every == 0 or self.update == self.updates
            if due or (stop.requested and self.update < self.updates):
                path = self.checkpoint()
            if stop.requested and self.update < self.updates:
                raise RunInterrupted(
                    f"interrupted after update {self.update} of {self.updates}; checkpoint "
                    f"written to {path}; continue with: esper resume {self.session.run_dir}"
                )

    def _play_and_learn(self, u: int, on_epoch: EpochProgress | None) -> dict[str, Any]:
        """Update ``u``: one episode per environment (cheap ones early in the curriculum), one
        agent update; its history record."""
        started = time.perf_counter()
        self.buffer.reset()
        cheap = u < self.cheap_updates
        factory = self.cheap_factory if cheap else self.factory
        job = RolloutJob(
            factory=factory,
            seeds=self.seeds(u),
            policy=self.policy,
            rewards=self._rewards(),
            buffer=self.buffer,
            on_epoch=on_epoch,
            emit=self.session.emit,
        )
        self.policy.network.eval()
        episodes = self.runner.collect(job)
        metrics = self.agent.update(self.buffer)
        return update_record(
            u,
            episodes,
            metrics,
            wall=time.perf_counter() - started,
            batches_per_epoch=factory.epoch_batches(),
            cheap=cheap,
        )

    # -- checkpoints ----------------------------------------------------------------------------

    def _wall(self) -> float:
        return self.wall_before + (time.perf_counter() - self.started)

    def checkpoint(self) -> Path:
        network = self.policy.network
        policy_options = unstructure(self.config).get("policy", {})
        state = {
            "schema": CHECKPOINT_SCHEMA,
            "run_id": self.session.run_id,
            "task": self.config.components["task"].id,
            "policy_id": self.config.components["policy"].id,
            "policy_config": {k: v for k, v in policy_options.items() if k != "name"},
            "network": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()},
            "policy": self.policy.state_dict(),
            "agent": self.agent.state_dict(),
            "update": self.update,
            "envs": self.config.train.envs,
            "rng": torch.get_rng_state(),
            "history": self.history,
            "wall_time_s": self._wall(),
            # The warm start's teacher and what it measured (None: no imitation).
            "imitation": self.imitation,
        }
        return save_checkpoint(self.session.run_dir / CHECKPOINT_NAME, state)

    def restore(self, path: Path) -> None:
        state = load_checkpoint(path)
        if state.get("schema") != CHECKPOINT_SCHEMA:
            raise CheckpointError(
                f"{path}: policy checkpoint schema {state.get('schema')!r}, expected {CHECKPOINT_SCHEMA}"
            )
        task = self.config.components["task"].id
        if state.get("task") != task:
            raise CheckpointError(
                f"{path}: checkpoint is for task {state.get('task')!r}, this run's task is {task!r}"
            )
        if state.get("envs") != self.config.train.envs:
            raise CheckpointError(
                f"{path}: checkpoint was trained with {state.get('envs')} envs per update, "
                f"this run has train.envs = {self.config.train.envs}"
            )
        try:
            self.policy.load_state_dict(state["policy"])
            self.agent.load_state_dict(state["agent"])
        except (KeyError, EsperError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot restore the controller: {exc}") from None
        torch.set_rng_state(state["rng"])
        self.update = int(state["update"])
        self.history = list(state["history"])
        self.imitation = state.get("imitation")
        self.wall_before = float(state.get("wall_time_s", 0.0))
        self.session.emit(RunResumed(checkpoint=str(path), position=self.update))

    def summary(self) -> dict[str, Any]:
        comps = self.config.components
        return {
            "run_id": self.session.run_id,
            "command": "train",
            "task": comps["task"].id,
            "policy": comps["policy"].id,
            "agent": comps["agent"].id,
            "reward": comps["reward"].id,
            "runner": comps["runner"].id,
            "epochs": self.config.run.epochs,
            "envs": self.config.train.envs,
            "updates": self.update,
            "episodes": sum(r["episodes"] for r in self.history),
            "decisions": sum(r.get("decisions", 0) for r in self.history),
            "cheap_updates": self.cheap_updates,
            "decisions_per_hour": decisions_per_hour(self.history),
            # Host-training FLOPs of every episode (0 for updates recorded before esper
            # counted them).
            "flops_train": sum(r.get("flops_train", 0) for r in self.history),
            "flops_control": sum(r.get("flops_control", 0) for r in self.history),
            "seed": self.config.run.seed,
            "wall_time_s": round(self._wall(), 3),
            "history": self.history,
            **({"imitation": self.imitation} if self.imitation is not None else {}),
            **({"compile": self.watch.summary()} if self.config.compile.enabled else {}),
        }
