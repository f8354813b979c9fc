"""One host-training environment: a task, a growing model, its optimizer, governor and controller.

Each call to `Environment.step` is one epoch, in two halves so that a runner can batch the
controllers' decisions of many environments between them:

1. `Environment.observe` (the environment's own work): train one pass and evaluate with the
   fused counterfactual pass (`esper.engine.epoch.EpochLoop`), read every figure of the epoch
   in one device-to-host transfer, record each blended seed's contribution and the gradient
   health, prune a seed that went non-finite, let the governor judge the validation loss
   (roll back on panic), record accuracy into the seeds and build the controller's signals;
2. `Environment.act`: execute the controller's action (`esper.engine.executor`), tick the
   lifecycle, snapshot for the governor on its cadence, and report the `EpochResult`.

Each environment draws from random streams of its own (weight init, dropout, seeds' init),
so its results do not depend on what other environments in the process do; its data order
and augmentation come from generators of their own, saved in checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import torch

from esper.contracts.actions import Action, Op
from esper.contracts.governor import Governor
from esper.contracts.policy import Policy
from esper.contracts.signals import Signals
from esper.contracts.task import Task, TaskData, load_task_data
from esper.engine.compilation import compile_module
from esper.engine.compute import ComputeTally
from esper.engine.epoch import (
    EpochLoop,
    ablation_configs,
    non_finite_causes,
    read_evaluation,
    resolve_amp,
)
from esper.engine.events import HostStabilized, PlateauDetected
from esper.engine.executor import ActionExecutor
from esper.engine.options import CompileSection
from esper.engine.results import EpochResult, Observed, alphas, epoch_completed, epoch_result
from esper.engine.state import environment_state, restore_environment
from esper.engine.streams import Streams
from esper.engine.tracker import SignalTracker
from esper.errors import EsperError
from esper.growth.catalog import BlueprintCatalog
from esper.growth.gradient_health import GradientReport
from esper.growth.host import SlottedHost, input_memory_format
from esper.growth.model import MorphogeneticModel
from esper.registry import Registries
from esper.telemetry import Event

__all__ = ["Environment", "EpochResult", "Observed", "resolve_amp"]

#: Epochs without improvement after which a plateau is reported (once per plateau).
PLATEAU_EVENT_EPOCHS = 3


class Environment:
    def __init__(
        self,
        *,
        task: Task,
        registries: Registries,
        policy: Policy,
        governor: Governor | None,
        device: torch.device,
        seed: int,
        max_epochs: int,
        slots: list[str] | None = None,
        amp: str = "off",
        batches_per_epoch: int | None = None,
        data: TaskData | None = None,
        data_dir: Path | None = None,
        emit: Callable[[Event], None] | None = None,
        arm: str = "grown",
        snapshot_every: int = 5,
        use_stream: bool = False,
        env_id: int | None = None,
        compile: CompileSection | None = None,
        budget_flops: int | None = None,
    ) -> None:
        self.task = task
        self.info = task.info
        self.policy = policy
        self.governor = governor
        self.device = device
        self.seed = seed
        self.max_epochs = max_epochs
        self.emit = emit
        self.arm = arm
        self.snapshot_every = snapshot_every
        #: Stamped on this environment's events (the buffer row in ``esper train``).
        self.env_id = env_id
        self.streams = Streams(seed, device, use_stream=use_stream)
        self.stream = self.streams.stream
        self.data, self.model = self._grow(task, registries, slots, data, data_dir)
        if compile is not None:
            # The training forward (host and seeds) is compiled, batch dimension dynamic.
            compile_module(self.model, compile, dynamic=None)
        self.optimizer = self._optimizer()
        self.data_generator = torch.Generator().manual_seed(seed + 1)
        self.aug_generator = torch.Generator(device=device).manual_seed(seed + 2)
        self.loop = EpochLoop(
            model=self.model,
            task=task,
            data=self.data,
            optimizer=self.optimizer,
            device=device,
            amp_dtype=resolve_amp(amp, device),
            compiled=compile is not None and compile.enabled,
            batches_per_epoch=batches_per_epoch,
            generators=(self.data_generator, self.aug_generator),
            arm=arm,
        )
        self.execute = ActionExecutor(self.model)
        self.tracker = SignalTracker()
        self.compute = ComputeTally(budget=budget_flops, batches_per_epoch=batches_per_epoch)
        self.pending: Observed | None = None
        self.last_signals: Signals | None = None
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        if self.governor is not None:
            self.governor.snapshot(self.model)

    def _optimizer(self) -> torch.optim.Optimizer:
        """SGD for the host; every seed gets a group of its own at germination (removed with
        its moments at prune)."""
        optimizer = torch.optim.SGD(
            self.model.host_parameters(), lr=self.info.host_lr, momentum=0.9, weight_decay=5e-4
        )
        self.model.bind_optimizer(optimizer, lr=self.info.seed_lr, momentum=0.9, weight_decay=0.0)
        return optimizer

    def _grow(
        self,
        task: Task,
        registries: Registries,
        slots: list[str] | None,
        data: TaskData | None,
        data_dir: Path | None,
    ) -> tuple[TaskData, MorphogeneticModel]:
        """The task's host (in this environment's random stream) as a growing model, and the
        data on the device in the memory format the host declares: batches indexed out of it
        keep that format, so no batch is converted."""
        with self.streams.own():
            host: SlottedHost = task.build_host(registries).to(self.device)
        on_device = (data or load_task_data(task, seed=self.seed, data_dir=data_dir)).to(
            self.device, memory_format=input_memory_format(host)
        )
        catalog = BlueprintCatalog(registries["blueprints"], host.topology)
        return on_device, MorphogeneticModel(host, catalog, slots=slots, emit=self._emit)

    @property
    def finished(self) -> bool:
        """Trained for ``max_epochs``, or its FLOP budget is spent."""
        return self.epoch >= self.max_epochs or self.compute.spent

    @property
    def scaler(self) -> Any:
        """The fp16 loss scaler (None without fp16)."""
        return self.loop.scaler

    def _emit(self, event: Event) -> None:
        if self.emit is None:
            return
        changes: dict[str, Any] = {}
        if event.epoch is None:
            changes["epoch"] = self.epoch
        if event.env_id is None and self.env_id is not None:
            changes["env_id"] = self.env_id
        self.emit(attrs.evolve(event, **changes) if changes else event)

    # -- training and evaluation on their own (benchmarks, tools) ---------------------------

    def train_epoch(self) -> tuple[float, float]:
        """One training pass; returns (loss, accuracy %)."""
        for _ in self.loop.train_batches(self.epoch):
            pass
        if self.loop.pending_grads is not None:
            self.model.record_gradient_report(self.loop.pending_grads.resolve())
            self.loop.pending_grads = None
        loss, correct, count = self.loop.train_stats.tolist()
        total = max(count, 1.0)
        return loss / total, 100.0 * correct / total

    def evaluate(self) -> tuple[float, float, dict[str, float]]:
        """Validation loss and accuracy, and each blended seed's counterfactual contribution."""
        ablate, configs = ablation_configs(self.model)
        result = read_evaluation(self.loop.launch_evaluate(configs).tolist(), ablate)
        return result.val_loss, result.val_accuracy, result.contributions

    # -- the first half of an epoch ---------------------------------------------------------

    def observe_steps(self) -> Iterator[None]:
        """The first half of the next epoch, one training batch per ``next()``.

        Each step runs in this environment's own random streams (and CUDA stream), so a
        runner can interleave several environments batch by batch; all device-to-host
        transfers wait until the epoch's last step. When the iterator is exhausted,
        `pending` holds the `Observed` record for the controller.
        """
        steps = self._observe()
        while True:
            with self.streams.own(), self.streams.on_stream():
                try:
                    next(steps)
                except StopIteration:
                    return
            yield

    def observe(self) -> Observed:
        """Run the first half of the next epoch to the end."""
        for _ in self.observe_steps():
            pass
        if self.pending is None:
            raise RuntimeError("observe_steps() finished without an observation")
        return self.pending

    def _observe(self) -> Iterator[None]:
        if self.pending is not None:
            raise EsperError("this epoch was observed but not acted on: call act() first")
        if self.stream is not None:
            # Data and weights were last written on the default stream.
            self.stream.wait_stream(torch.cuda.default_stream(self.device))
        self.epoch += 1
        epoch = self.epoch
        self.compute.cap_batches(self.loop)
        yield from self.loop.train_batches(epoch)
        ablate, figures, train_loss, train_acc = self._read_epoch()
        shapley_values = self._shapley(ablate) if epoch == self.max_epochs and ablate else {}
        for sid, value in figures.contributions.items():
            state = self.model.records[sid].state
            if state is not None:
                state.record_contribution(value)
        rolled_back = self._judge(epoch, figures.val_loss)
        if math.isfinite(figures.val_accuracy):
            self.model.record_accuracy(figures.val_accuracy)
        signals = self._signals(
            epoch, train_loss, train_acc, figures.val_loss, figures.val_accuracy
        )
        self.pending = Observed(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=figures.val_loss,
            val_accuracy=figures.val_accuracy,
            contributions=figures.contributions,
            all_off_accuracy=figures.all_off_accuracy,
            rolled_back=rolled_back,
            signals=signals,
            shapley=shapley_values,
        )

    def _read_epoch(self) -> tuple[list[str], Any, float, float]:
        """Evaluate, then read the epoch's figures in its single device-to-host transfer:
        training sums, evaluation, each seed's non-finite output count and gradient health.
        Records the gradient health and prunes a seed that went non-finite."""
        ablate, configs = ablation_configs(self.model)
        self.compute.charge_epoch(self.loop, configs)
        eval_stats = self.loop.launch_evaluate(configs)
        grads, self.loop.pending_grads = self.loop.pending_grads, None
        nonfinite_slots, nonfinite = self.model.launch_nonfinite()
        parts = [self.loop.train_stats, eval_stats]
        if nonfinite is not None:
            parts.append(nonfinite.to(torch.float64))
        if grads is not None and grads.stats is not None:
            parts.append(grads.stats)
        values = torch.cat(parts).tolist()  # the epoch's single device-to-host transfer
        t_loss, t_correct, t_count = values[:3]
        n_eval = eval_stats.numel()
        figures = read_evaluation(values[3 : 3 + n_eval], ablate)
        rest = values[3 + n_eval :]
        report = grads.resolve(rest[len(nonfinite_slots) :]) if grads is not None else None
        if report is not None:
            self.model.record_gradient_report(report)
        bad_outputs = dict(zip(nonfinite_slots, rest[: len(nonfinite_slots)], strict=True))
        self._prune_non_finite(self.epoch, figures.val_loss, bad_outputs, report)
        total = max(t_count, 1.0)
        return ablate, figures, t_loss / total, 100.0 * t_correct / total

    def _judge(self, epoch: int, val_loss: float) -> bool:
        """The governor's verdict on the epoch; True when it rolled the host back."""
        if self.governor is None:
            return False
        verdict = self.governor.check(val_loss, epoch=epoch)
        if not verdict.panic:
            return False
        self.governor.rollback(self.model, reason=verdict.reason or "governor", epoch=epoch)
        self.model.clear_optimizer_moments()
        self.loop.restart_scaler()
        return True

    def _signals(
        self, epoch: int, train_loss: float, train_acc: float, val_loss: float, val_acc: float
    ) -> Signals:
        """The controller's signals for this epoch; reports plateaus and stabilisation."""
        was_stable = self.tracker.host_stabilized
        signals = self.tracker.update(
            epoch=epoch,
            max_epochs=self.max_epochs,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=val_loss,
            val_accuracy=val_acc,
            slots=self.model.slot_views(),
        )
        if signals.host_stabilized and not was_stable:
            self._emit(HostStabilized(arm=self.arm, val_loss=val_loss))
        if signals.plateau_epochs == PLATEAU_EVENT_EPOCHS:
            self._emit(
                PlateauDetected(
                    arm=self.arm, plateau_epochs=signals.plateau_epochs, val_accuracy=val_acc
                )
            )
        return signals

    def _prune_non_finite(
        self,
        epoch: int,
        val_loss: float,
        bad_batches: dict[str, float],
        report: GradientReport | None,
    ) -> None:
        """Prune the seeds whose output or gradients went non-finite (`non_finite_causes`)."""
        causes = non_finite_causes(val_loss, bad_batches, report, scaled=self.scaler is not None)
        if causes:
            self.model.prune_non_finite(causes, epoch=epoch)
            # The seed's NaN gradients made the scaler skip this epoch's shared steps and
            # halve its scale each time: start it again, as after a rollback.
            self.loop.restart_scaler()

    def _shapley(self, slots: list[str]) -> dict[str, float]:
        """Shapley attribution of the blended seeds (`EpochLoop.shapley`), reported."""
        values, event = self.loop.shapley(slots, seed=self.seed)
        self._emit(event)
        return values

    # -- the second half --------------------------------------------------------------------

    def act(self, action: Action) -> EpochResult:
        """The second half of the epoch: execute ``action`` (WAIT after a rollback) and tick."""
        with self.streams.own(), self.streams.on_stream():
            return self._act(action)

    def step(self) -> EpochResult:
        """One whole epoch with this environment's own controller."""
        observed = self.observe()
        action = Action()
        if not observed.rolled_back:
            # The environment's own random stream: a sampling controller resumes exactly.
            with self.streams.own():
                action = self.policy.decide(observed.signals)
            self.compute.control += self.policy.decision_flops()
        return self.act(action)

    def peek_signals(self) -> Signals:
        """What the controller would see now (after the last action), without training.

        Used to bootstrap the value of a time-limited episode's final state.
        """
        if self.last_signals is None:
            raise EsperError("peek_signals() needs at least one finished epoch")
        return attrs.evolve(
            self.last_signals,
            slots=self.model.slot_views(),
            last_action_op=self.tracker.last_action_op,
            last_action_ok=self.tracker.last_action_ok,
        )

    def apply(self, action: Action) -> bool:
        """Execute an action; an action the lifecycle refuses is a no-op that returns False."""
        with self.streams.own():
            return self.execute(action, epoch=self.epoch)

    def _act(self, action: Action) -> EpochResult:
        observed = self.pending
        if observed is None:
            raise EsperError("act() needs an observed epoch: call observe() first")
        self.pending = None
        epoch, model = observed.epoch, self.model
        if observed.rolled_back:
            action = Action()
        alphas_before = alphas(self.model)
        ok = self.execute(action, epoch=epoch)
        self.tracker.record_action(action.op, ok)
        model.step_epoch(epoch=epoch)
        fossilized = action.op is Op.FOSSILIZE and ok
        if (
            self.governor is not None
            and not observed.rolled_back
            and (fossilized or epoch % self.snapshot_every == 0)
        ):
            self.governor.snapshot(model)
        self.last_signals = observed.signals
        return self._report(observed, action, ok, alphas_before)

    def _report(
        self, observed: Observed, action: Action, ok: bool, alphas_before: dict[str, float]
    ) -> EpochResult:
        """Record the finished epoch in the history and the telemetry; its `EpochResult`."""
        result = epoch_result(self.model, observed, action, ok, alphas_before, self.compute)
        self.history.append(
            {
                "epoch": result.epoch,
                "train_loss": result.train_loss,
                "train_accuracy": result.train_accuracy,
                "val_loss": result.val_loss,
                "val_accuracy": result.val_accuracy,
                "params_total": result.params_total,
                "rolled_back": result.rolled_back,
            }
        )
        self._emit(epoch_completed(self.model, result, arm=self.arm))
        return result

    # -- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed environment needs to continue bit for bit (`esper.engine.state`)."""
        return environment_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_environment(self, state)
