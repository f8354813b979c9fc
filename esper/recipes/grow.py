"""``esper run``: grow a network with a controller, next to the same host kept static.

Two environments ("arms") train side by side from the same seed and data: ``grown`` under the
configured controller and, unless disabled, ``static`` under a controller that never grows.
Every ``checkpoint_every`` epochs (and at the end) the state of both arms is written atomically
to ``checkpoint.pt``; `resume` continues from it to the same final numbers an uninterrupted run
reaches. At the end ``summary.json`` holds the final figures for tools and comparisons.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import structlog

from esper.config import EsperConfig
from esper.contracts.policy import StaticPolicy
from esper.contracts.task import Task
from esper.contracts.trainable import TrainablePolicy
from esper.engine.compilation import CompileWatch, compile_module, configure
from esper.engine.environment import Environment, EpochResult
from esper.engine.events import GraphsCompiled
from esper.errors import EsperError
from esper.lifecycle import Stage
from esper.recipes.factory import EnvironmentFactory, resolve_device
from esper.recipes.interrupt import RunInterrupted, StopRequest
from esper.registry import Registries
from esper.rundir import layout
from esper.rundir.atomic import write_text_atomic
from esper.rundir.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from esper.rundir.session import RunSession
from esper.telemetry.events import RunResumed

log = structlog.get_logger(__name__)

CHECKPOINT_NAME = layout.RUN_CHECKPOINT
SUMMARY_NAME = layout.SUMMARY

Progress = Callable[[str, EpochResult, Environment], None]


@attrs.define
class GrowthRun:
    """Both arms of one ``esper run`` and the loop that drives them."""

    config: EsperConfig
    registries: Registries
    session: RunSession
    task: Task
    arms: dict[str, Environment]
    watch: CompileWatch
    started: float = attrs.field(factory=time.perf_counter)
    wall_before: float = 0.0

    @classmethod
    def build(cls, config: EsperConfig, registries: Registries, session: RunSession) -> GrowthRun:
        run = config.run
        factory = EnvironmentFactory.from_config(
            config,
            registries,
            device=resolve_device(run.device),
            data_dir=Path(run.data_dir) if run.data_dir else None,
            emit=session.emit,
        )
        configure(config.compile)
        watch = CompileWatch(config.compile)
        arms = {"grown": factory.build(policy=factory.policy, seed=run.seed, arm="grown")}
        policy = factory.policy
        if config.compile.enabled and isinstance(policy, TrainablePolicy):
            policy.build(arms["grown"].model.slot_ids)
            compile_module(policy.network, config.compile, dynamic=True)
        if run.static_baseline:
            # The same host and data under a controller that never grows.
            arms["static"] = factory.build(policy=StaticPolicy(), seed=run.seed, arm="static")
        return cls(
            config=config,
            registries=registries,
            session=session,
            task=factory.task,
            arms=arms,
            watch=watch,
        )

    # -- the loop -------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> dict[str, Any]:
        """Train both arms to ``run.epochs``; Ctrl-C stops after the epoch with a checkpoint."""
        every = self.config.run.checkpoint_every
        with StopRequest(unit="epoch") as stop:
            while not self.finished:
                for index, (name, env) in enumerate(self.arms.items()):
                    if env.finished:  # its FLOP budget is spent
                        continue
                    with structlog.contextvars.bound_contextvars(env_id=index, arm=name):
                        result = env.step()
                    if progress is not None:
                        progress(name, result, env)
                self._report_compiles(self.position)
                if self.position % every == 0 or self.finished or stop.requested:
                    path = self.checkpoint()
                if stop.requested and not self.finished:
                    raise RunInterrupted(self._stopped_message(path))
        summary = self.summary()
        write_text_atomic(self.session.run_dir / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
        return summary

    @property
    def position(self) -> int:
        """Epochs done by the arm furthest along."""
        return max(env.epoch for env in self.arms.values())

    @property
    def finished(self) -> bool:
        """Every arm trained its epochs or spent its FLOP budget."""
        return all(env.finished for env in self.arms.values())

    def _report_compiles(self, epoch: int) -> None:
        new = self.watch.poll()
        if new:
            limit = self.config.compile.limit
            self.session.emit(
                GraphsCompiled(at=epoch, new=new, total=self.watch.total, limit=limit)
            )

    def _stopped_message(self, path: Path) -> str:
        figures = ", ".join(
            f"{name} val accuracy {env.history[-1]['val_accuracy']:.2f}%"
            for name, env in self.arms.items()
            if env.history
        )
        return (
            f"interrupted after epoch {self.position} of {self.config.run.epochs} "
            f"({figures}); checkpoint written to {path}; continue with: "
            f"esper resume {self.session.run_dir}"
        )

    def checkpoint(self) -> Path:
        """Write both arms' state to ``checkpoint.pt`` atomically."""
        wall = self.wall_before + (time.perf_counter() - self.started)
        state = {
            "run_id": self.session.run_id,
            "task": self.config.components["task"].id,
            "slots": {name: env.model.slot_ids for name, env in self.arms.items()},
            "arms": {name: env.state_dict() for name, env in self.arms.items()},
            "wall_time_s": wall,
        }
        return save_checkpoint(self.session.run_dir / CHECKPOINT_NAME, state)

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint of this run; a foreign one is a `CheckpointError`."""
        state = load_checkpoint(path)
        if not isinstance(state.get("arms"), dict) or not isinstance(state.get("slots"), dict):
            raise CheckpointError(
                f"{path}: not a checkpoint of `esper run` (it has no arms; a policy.pt of "
                "`esper train` goes to `esper run --policy-checkpoint`)"
            )
        if state.get("task") != self.config.components["task"].id:
            raise CheckpointError(
                f"{path}: checkpoint is for task {state.get('task')!r}, this run's task is "
                f"{self.config.components['task'].id!r}"
            )
        if set(state["arms"]) != set(self.arms):
            raise CheckpointError(
                f"{path}: checkpoint has arms {sorted(state['arms'])}, this run has {sorted(self.arms)}"
            )
        for name, env in self.arms.items():
            if state["slots"][name] != env.model.slot_ids:
                raise CheckpointError(
                    f"{path}: checkpoint was made with slots {state['slots'][name]}, this run enables {env.model.slot_ids}"
                )
        for name, env in self.arms.items():
            try:
                env.load_state_dict(state["arms"][name])
            except (KeyError, EsperError, RuntimeError, ValueError) as exc:
                raise CheckpointError(f"{path}: cannot restore arm {name!r}: {exc}") from None
        self.wall_before = float(state.get("wall_time_s", 0.0))
        self.session.emit(RunResumed(checkpoint=str(path), position=self.position))

    def summary(self) -> dict[str, Any]:
        wall = self.wall_before + (time.perf_counter() - self.started)
        info = self.task.info
        out: dict[str, Any] = {
            "run_id": self.session.run_id,
            "task": self.config.components["task"].id,
            "task_kind": info.kind,
            "policy": self.config.components["policy"].id,
            "epochs": self.config.run.epochs,
            "seed": self.config.run.seed,
            "budget_flops": self.config.run.budget_flops or None,
            "wall_time_s": round(wall, 3),
        }
        if self.config.compile.enabled:
            out["compile"] = self.watch.summary()
        for name, env in self.arms.items():
            out[name] = arm_summary(env, info.kind)
        return out


def arm_summary(env: Environment, task_kind: str) -> dict[str, Any]:
    """One arm's final figures: metrics, parameters, FLOPs, seeds by outcome, rollbacks."""
    last = env.history[-1] if env.history else {}
    counts = env.model.parameter_counts()
    stages = [r.state.stage for r in env.model.records.values() if r.state is not None]
    germinated = sum(r.seeds_germinated for r in env.model.records.values())
    fossilized = stages.count(Stage.FOSSILIZED)
    live = sum(
        stage in (Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING)
        for stage in stages
    )
    arm: dict[str, Any] = {
        "val_accuracy": last.get("val_accuracy"),
        "val_loss": last.get("val_loss"),
        "best_val_accuracy": max((h["val_accuracy"] for h in env.history), default=None),
        "epochs": env.epoch,
        "params": {
            "host": counts.host,
            "active_seeds": counts.active_seeds,
            "fossilized": counts.fossilized,
            "total": counts.total,
        },
        "growth_ratio": counts.growth_ratio,
        "flops": env.compute.summary(),
        # Every seed ever germinated is live, fossilized, or was pruned.
        "seeds": {
            "germinated": germinated,
            "fossilized": fossilized,
            "pruned": germinated - fossilized - live,
        },
        "rollbacks": sum(1 for h in env.history if h["rolled_back"]),
    }
    if task_kind == "language_model" and last.get("val_loss") is not None:
        arm["val_perplexity"] = math.exp(min(last["val_loss"], 50.0))
    return arm
