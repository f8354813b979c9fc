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
import torch

from esper.config import EsperConfig
from esper.contracts.governor import Governor
from esper.contracts.policy import Policy, TrainablePolicy
from esper.contracts.task import Task, TaskData, load_task_data
from esper.engine.compilation import CompileWatch, compile_module, configure
from esper.engine.environment import Environment, EpochResult
from esper.engine.events import GraphsCompiled
from esper.errors import EsperError
from esper.growth.catalog import BlueprintCatalog
from esper.lifecycle import QualityGates, Stage
from esper.recipes.interrupt import RunInterrupted, StopRequest
from esper.registry import Registries
from esper.rundir.atomic import write_text_atomic
from esper.rundir.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from esper.rundir.session import RunSession
from esper.telemetry.events import RunResumed

log = structlog.get_logger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
SUMMARY_NAME = "summary.json"
STATIC_POLICY = "esper.policies.heuristic:static"

Progress = Callable[[str, EpochResult, Environment], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EsperError(f"run.device = {name!r} but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise EsperError(
                f"run.device = {name!r} but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise EsperError("run.device = 'mps' but MPS is not available on this machine")
    return device


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
        device = resolve_device(run.device)
        task_comp = config.components["task"]
        task: Task = registries["tasks"].get(task_comp.id).build(task_comp.options)
        data_dir = Path(run.data_dir) if run.data_dir else None
        data: TaskData = load_task_data(task, seed=run.seed, data_dir=data_dir, name=task_comp.id)
        configure(config.compile)
        watch = CompileWatch(config.compile)
        arms: dict[str, Environment] = {}
        names = ["grown"] + (["static"] if run.static_baseline else [])
        for arm in names:
            policy_id = config.components["policy"].id if arm == "grown" else STATIC_POLICY
            arms[arm] = cls._environment(
                config, registries, session, task, data, device, arm, policy_id
            )
            # On the device and in the host's memory format now: the next arm shares it.
            data = arms[arm].data
        return cls(
            config=config,
            registries=registries,
            session=session,
            task=task,
            arms=arms,
            watch=watch,
        )

    @staticmethod
    def _environment(
        config: EsperConfig,
        registries: Registries,
        session: RunSession,
        task: Task,
        data: Any,
        device: torch.device,
        arm: str,
        policy_id: str,
    ) -> Environment:
        run = config.run

        emit = session.emit
        catalog = BlueprintCatalog(registries["blueprints"], task.info.topology)
        options = config.components["policy"].options if arm == "grown" else None
        policy: Policy = registries["policies"].get(policy_id).build(options, catalog=catalog)
        governor: Governor | None = None
        if "governor" in config.components:
            gov = config.components["governor"]
            governor = (
                registries["governors"].get(gov.id).build(gov.options, task=task.info, emit=emit)
            )
        env = Environment(
            task=task,
            registries=registries,
            policy=policy,
            governor=governor,
            device=device,
            seed=run.seed,
            max_epochs=run.epochs,
            slots=list(run.slots) or None,
            amp=run.amp,
            batches_per_epoch=run.batches_per_epoch or None,
            data=data,
            emit=emit,
            arm=arm,
            compile=config.compile,
        )
        if config.compile.enabled and isinstance(policy, TrainablePolicy):
            policy.build(env.model.slot_ids)
            compile_module(policy.network, config.compile, dynamic=True)
        env.model.gates = QualityGates(config.lifecycle)
        return env

    # -- the loop -------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> dict[str, Any]:
        """Train both arms to ``run.epochs``; Ctrl-C stops after the epoch with a checkpoint."""
        total = self.config.run.epochs
        every = self.config.run.checkpoint_every
        grown = self.arms["grown"]
        with StopRequest(unit="epoch") as stop:
            while grown.epoch < total:
                for index, (name, env) in enumerate(self.arms.items()):
                    with structlog.contextvars.bound_contextvars(env_id=index, arm=name):
                        result = env.step()
                    if progress is not None:
                        progress(name, result, env)
                self._report_compiles(grown.epoch)
                due = grown.epoch % every == 0 or grown.epoch == total
                if due or (stop.requested and grown.epoch < total):
                    path = self.checkpoint()
                if stop.requested and grown.epoch < total:
                    raise RunInterrupted(self._stopped_message(path))
        summary = self.summary()
        write_text_atomic(self.session.run_dir / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
        return summary

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
            f"interrupted after epoch {self.arms['grown'].epoch} of {self.config.run.epochs} "
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
        self.session.emit(RunResumed(checkpoint=str(path), position=self.arms["grown"].epoch))

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
            "wall_time_s": round(wall, 3),
        }
        if self.config.compile.enabled:
            out["compile"] = self.watch.summary()
        for name, env in self.arms.items():
            last = env.history[-1] if env.history else {}
            counts = env.model.parameter_counts()
            stages = [r.state.stage for r in env.model.records.values() if r.state is not None]
            germinated = sum(r.seeds_germinated for r in env.model.records.values())
            fossilized = stages.count(Stage.FOSSILIZED)
            live = sum(
                stage in (Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING)
                for stage in stages
            )
            # Every seed ever germinated is live, fossilized, or was pruned.
            outcome = {
                "germinated": germinated,
                "fossilized": fossilized,
                "pruned": germinated - fossilized - live,
            }
            arm: dict[str, Any] = {
                "val_accuracy": last.get("val_accuracy"),
                "val_loss": last.get("val_loss"),
                "best_val_accuracy": max((h["val_accuracy"] for h in env.history), default=None),
                "params": {
                    "host": counts.host,
                    "active_seeds": counts.active_seeds,
                    "fossilized": counts.fossilized,
                    "total": counts.total,
                },
                "growth_ratio": counts.growth_ratio,
                "seeds": outcome,
                "rollbacks": sum(1 for h in env.history if h["rolled_back"]),
            }
            if info.kind == "language_model" and last.get("val_loss") is not None:
                arm["val_perplexity"] = math.exp(min(last["val_loss"], 50.0))
            out[name] = arm
        return out
