"""One host-training environment: a task, a growing model, its optimizer, governor and controller.

Each call to `Environment.step` is one epoch:

1. train one pass (or ``batches_per_epoch`` batches) with loss and correct counts accumulated
   on the device in accumulators of one shape and dtype for every task kind, and one
   device-to-host transfer at the end of the epoch;
2. evaluate with the fused counterfactual pass: the current model and, for every seed whose
   output is blended in, the model without it — in one batched forward per validation batch;
   each seed's contribution (accuracy with it minus without it) is recorded;
3. measure gradient health (recorded during the last training batch), let the governor judge
   the validation loss (roll back on panic), record accuracy into the seeds, update the training
   signals, ask the controller for an action and apply it, then tick the lifecycle.

Mixed precision goes through ``torch.amp`` only. bf16 has float32's exponent range, so its
gradients cannot underflow and it needs no loss scaling: backward runs on the raw loss.
fp16 gradients can underflow, so fp16 scales the loss with ``torch.amp.GradScaler`` and
unscales before clipping; a step whose gradients overflowed is skipped by the scaler.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

# From its own module: torch 2.10's torch.amp does not re-export it for type checkers.
from torch.amp.grad_scaler import GradScaler

from esper.contracts.actions import Action, Op
from esper.contracts.governor import Governor
from esper.contracts.policy import Policy
from esper.contracts.signals import Signals
from esper.contracts.task import Augment, Task, TaskData, load_task_data
from esper.engine.compilation import compile_module, mark_batch_dynamic
from esper.engine.events import EpochCompleted, HostStabilized, PlateauDetected, ShapleyComputed
from esper.engine.options import CompileSection
from esper.engine.tracker import SignalTracker
from esper.errors import DataError, EsperError
from esper.growth.attribution import alpha_overrides, coalition_configs, interactions, shapley
from esper.growth.catalog import BlueprintCatalog
from esper.growth.gradient_health import GradientReport, PendingGradients
from esper.growth.host import SlottedHost, memory_format
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import LifecycleError, Stage
from esper.registry import Registries
from esper.telemetry import Event

MAX_GRAD_NORM = 1.0


#: Epochs without improvement after which a plateau is reported (once per plateau).
PLATEAU_EVENT_EPOCHS = 3


@attrs.frozen(kw_only=True)
class Observed:
    """The first half of an epoch: trained, evaluated, judged; the controller's turn next."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    #: Each blended seed's contribution (accuracy with it minus without it, percent points).
    contributions: dict[str, float]
    #: Accuracy with every blended seed switched off (None when none is blended).
    all_off_accuracy: float | None
    #: The governor rolled the host back this epoch (the controller does not act).
    rolled_back: bool
    #: What the controller sees (pre-action).
    signals: Signals
    #: Shapley value of each blended seed, at the episode's last epoch only.
    shapley: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class EpochResult:
    """A finished epoch: what was observed, the action taken, and the state after it."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    rolled_back: bool
    action: Action
    action_ok: bool
    signals: Signals
    contributions: dict[str, float] = attrs.field(factory=dict)
    all_off_accuracy: float | None = None
    params_host: int = 0
    params_total: int = 0
    #: Per slot, after the action and the lifecycle tick (absent: empty slot).
    seed_params: dict[str, int] = attrs.field(factory=dict)
    alphas_before: dict[str, float] = attrs.field(factory=dict)
    alphas_after: dict[str, float] = attrs.field(factory=dict)
    stages_after: dict[str, str] = attrs.field(factory=dict)
    germinated_at: dict[str, int] = attrs.field(factory=dict)
    shapley: dict[str, float] = attrs.field(factory=dict)


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """``off`` / ``bf16`` / ``fp16`` / ``auto`` -> autocast dtype (None = full precision)."""
    if amp == "off":
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        if device.type != "cuda":
            raise EsperError("run.amp = 'fp16' needs a CUDA device (use 'bf16' on the CPU)")
        return torch.float16
    if amp == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None
    raise EsperError(f"unknown run.amp {amp!r}; choose off, bf16, fp16 or auto")


def _accuracy_counts(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # int64 [] for classification and language models alike (review T1-1).
    return (outputs.argmax(dim=-1) == targets).sum()


def _input_format(host: SlottedHost) -> torch.memory_format:
    try:
        return memory_format(host.input_memory_format)
    except ValueError as exc:
        raise EsperError(f"host {type(host).__name__}: input_memory_format: {exc}") from None


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
    ) -> None:
        self.task = task
        self.info = task.info
        self.policy = policy
        self.governor = governor
        self.device = device
        self.seed = seed
        self.max_epochs = max_epochs
        self.batches_per_epoch = batches_per_epoch
        self.emit = emit
        self.arm = arm
        self.snapshot_every = snapshot_every
        #: Stamped on this environment's events (the buffer row in ``esper train``).
        self.env_id = env_id
        self.amp_dtype = resolve_amp(amp, device)
        # Each environment draws from random streams of its own (weight init, dropout, seeds'
        # init), so its results do not depend on what other environments in the process do.
        self._rng_cpu = torch.Generator().manual_seed(seed).get_state()
        self._rng_cuda: torch.Tensor | None = None
        self._in_own_rng = False
        with self._own_rng():
            host: SlottedHost = task.build_host(registries).to(device)
        # The data moves to the device once, in the memory format the host declares; batches
        # indexed out of it keep that format, so no batch is converted.
        self.data = (data or load_task_data(task, seed=seed, data_dir=data_dir)).to(
            device, memory_format=_input_format(host)
        )
        catalog = BlueprintCatalog(registries["blueprints"], host.topology)
        self.model = MorphogeneticModel(host, catalog, slots=slots, emit=self._emit)
        #: ``--compile``: the training forward (host and seeds) is compiled, batch dim dynamic.
        self.compiled = compile is not None and compile.enabled
        if compile is not None:
            compile_module(self.model, compile, dynamic=None)
        self.optimizer = torch.optim.SGD(
            self.model.host_parameters(), lr=self.info.host_lr, momentum=0.9, weight_decay=5e-4
        )
        self.model.bind_optimizer(
            self.optimizer, lr=self.info.seed_lr, momentum=0.9, weight_decay=0.0
        )
        self.scaler = GradScaler("cuda") if self.amp_dtype is torch.float16 else None
        # Data order and augmentation come from generators of their own, saved in checkpoints.
        self.data_generator = torch.Generator().manual_seed(seed + 1)
        self.aug_generator = torch.Generator(device=device).manual_seed(seed + 2)
        self.tracker = SignalTracker()
        # One CUDA stream per environment, so several can train on one GPU at once.
        self.stream: torch.cuda.Stream | None = (
            torch.cuda.Stream(device=device) if device.type == "cuda" and use_stream else None
        )
        self.pending: Observed | None = None
        self.last_signals: Signals | None = None
        self._pending_grads: PendingGradients | None = None
        self._train_stats = torch.zeros(3, dtype=torch.float64, device=device)
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        if self.governor is not None:
            self.governor.snapshot(self.model)

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        if self._in_own_rng:
            yield
            return
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.set_rng_state(self._rng_cpu)
            if cuda and self._rng_cuda is not None:
                torch.cuda.set_rng_state(self._rng_cuda, self.device)
            self._in_own_rng = True
            try:
                yield
            finally:
                self._in_own_rng = False
                self._rng_cpu = torch.get_rng_state()
                if cuda:
                    self._rng_cuda = torch.cuda.get_rng_state(self.device)

    def _emit(self, event: Event) -> None:
        if self.emit is None:
            return
        changes: dict[str, Any] = {}
        if event.epoch is None:
            changes["epoch"] = self.epoch
        if event.env_id is None and self.env_id is not None:
            changes["env_id"] = self.env_id
        self.emit(attrs.evolve(event, **changes) if changes else event)

    # -- one epoch --------------------------------------------------------------------------
    #
    # An epoch is two halves: `observe_steps` (train, evaluate, judge: the environment's own
    # work) and `act` (execute the controller's choice, tick the lifecycle). Between them a
    # runner may batch the controller's decisions over many environments. `observe_steps` is a
    # generator that yields after every training batch, so a runner can interleave several
    # environments batch by batch, each on its own CUDA stream; all device-to-host transfers
    # wait until the epoch's last step.

    def _autocast(self) -> Any:
        return torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )

    @contextlib.contextmanager
    def _on_stream(self) -> Iterator[None]:
        if self.stream is None:
            yield
            return
        with torch.cuda.stream(self.stream):
            yield

    def _train_batches(self) -> Iterator[None]:
        """Train one pass, yielding after each batch; leaves device accumulators behind."""
        model, data, task = self.model, self.data, self.task
        model.train()
        n = data.train_x.shape[0]
        bs = self.info.batch_size
        order = torch.randperm(n, generator=self.data_generator).to(self.device)
        batches = math.ceil(n / bs)
        if self.batches_per_epoch is not None:
            batches = min(batches, self.batches_per_epoch)
        loss_sum = torch.zeros((), dtype=torch.float32, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        count = torch.zeros((), dtype=torch.int64, device=self.device)
        # Host and each seed are clipped separately, so a seed's gradients cannot starve the
        # host's. Seeds change only between epochs: collect the groups once, not per batch.
        clip_groups = [model.host_parameters()] + [
            list(m.parameters()) for _, m in model.seed_modules()
        ]
        for b in range(batches):
            idx = order[b * bs : (b + 1) * bs]
            # Indexing copies: each environment's batch is its own tensor on its own stream,
            # never a view into memory another stream may still be reading.
            x, y = data.train_x[idx], data.train_y[idx]
            if data.augment is not None:
                x = self._augment(data.augment, x, b)
            if self.compiled:
                mark_batch_dynamic(x)  # the shorter last batch reuses the epoch's graph
            with self._autocast():
                out = model(x)
                loss = task.loss(out, y)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()  # bf16 and fp32: no scaling needed (see the module docstring)
            if b == batches - 1:
                # Launched now, read at the end of the epoch with everything else.
                self._pending_grads = model.launch_gradient_report()
            for group in clip_groups:
                nn.utils.clip_grad_norm_(group, MAX_GRAD_NORM, foreach=True)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            tokens = y.numel()
            loss_sum += loss.detach().float() * tokens
            correct += _accuracy_counts(out.detach(), y)
            count += tokens
            yield
        self._train_stats = torch.stack([loss_sum.double(), correct.double(), count.double()])

    def _augment(self, augment: Augment, x: torch.Tensor, batch: int) -> torch.Tensor:
        """The task's per-batch data step; its failure stops the run as a `DataError`.

        Batches come from tensors in memory (no loader workers); this is the task code that
        runs inside the epoch, so this is where a broken data path shows. The epoch is lost,
        never the last checkpoint.
        """
        try:
            return augment(x, self.aug_generator)
        except Exception as exc:
            raise DataError(
                f"the data path of task {type(self.task).__name__} failed in epoch "
                f"{self.epoch}, batch {batch + 1} ({self.arm}): {type(exc).__name__}: {exc}"
            ) from exc

    def train_epoch(self) -> tuple[float, float]:
        """One training pass; returns (loss, accuracy %) after one device-to-host transfer."""
        for _ in self._train_batches():
            pass
        if self._pending_grads is not None:
            self.model.record_gradient_report(self._pending_grads.resolve())
            self._pending_grads = None
        loss, correct, count = self._train_stats.tolist()
        total = max(count, 1.0)
        return loss / total, 100.0 * correct / total

    def _ablation_configs(self) -> tuple[list[str], list[dict[str, float]]]:
        model = self.model
        ablate = [
            sid
            for sid, record in model.records.items()
            if record.state is not None
            and record.state.stage in (Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED)
            and record.state.alpha > 0.0
        ]
        configs: list[dict[str, float]] = [{}] + [{sid: 0.0} for sid in ablate]
        if len(ablate) > 1:
            configs.append(dict.fromkeys(ablate, 0.0))  # every blended seed off at once
        return ablate, configs

    def _launch_evaluate(self, configs: list[dict[str, float]]) -> torch.Tensor:
        """Validation loss of config 0 and correct counts of every config, on the device:
        ``[loss_sum, count, correct_0, ..., correct_K-1]`` (float64)."""
        model, data = self.model, self.data
        k = len(configs)
        loss_sum = torch.zeros((), dtype=torch.float32, device=self.device)
        correct = torch.zeros(k, dtype=torch.int64, device=self.device)
        count = torch.zeros((), dtype=torch.int64, device=self.device)
        bs = max(self.info.batch_size, 256)
        n = data.val_x.shape[0]
        with torch.no_grad():
            for start in range(0, n, bs):
                x, y = data.val_x[start : start + bs], data.val_y[start : start + bs]
                with self._autocast():
                    out = model.fused_forward(x, configs)  # [K, B, ...]
                loss_sum += self.task.loss(out[0], y).float() * y.numel()
                correct += (out.argmax(dim=-1) == y.unsqueeze(0)).reshape(k, -1).sum(dim=1)
                count += y.numel()
        return torch.cat(
            [loss_sum.double().reshape(1), count.double().reshape(1), correct.double()]
        )

    @staticmethod
    def _read_evaluation(
        values: Sequence[float], ablate: list[str]
    ) -> tuple[float, float, dict[str, float], float | None]:
        total = max(values[1], 1.0)
        accuracies = [100.0 * c / total for c in values[2:]]
        contributions = {sid: accuracies[0] - accuracies[i + 1] for i, sid in enumerate(ablate)}
        all_off = None
        if len(ablate) == 1:
            all_off = accuracies[1]
        elif len(ablate) > 1:
            all_off = accuracies[-1]
        return values[0] / total, accuracies[0], contributions, all_off

    def evaluate(self) -> tuple[float, float, dict[str, float]]:
        """Validation loss and accuracy, and each blended seed's counterfactual contribution."""
        ablate, configs = self._ablation_configs()
        loss, acc, contributions, _ = self._read_evaluation(
            self._launch_evaluate(configs).tolist(), ablate
        )
        return loss, acc, contributions

    def observe_steps(self) -> Iterator[None]:
        """The first half of the next epoch, one training batch per ``next()``.

        Each step runs in this environment's own random streams (and CUDA stream). When the
        iterator is exhausted, `pending` holds the `Observed` record for the controller.
        """
        steps = self._observe()
        while True:
            with self._own_rng(), self._on_stream():
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
        yield from self._train_batches()
        ablate, configs = self._ablation_configs()
        eval_stats = self._launch_evaluate(configs)
        grads = self._pending_grads
        self._pending_grads = None
        nonfinite_slots, nonfinite = self.model.launch_nonfinite()
        parts = [self._train_stats, eval_stats]
        if nonfinite is not None:
            parts.append(nonfinite.to(torch.float64))
        if grads is not None and grads.stats is not None:
            parts.append(grads.stats)
        values = torch.cat(parts).tolist()  # the epoch's single device-to-host transfer
        t_loss, t_correct, t_count = values[:3]
        n_eval = eval_stats.numel()
        val_loss, val_acc, contributions, all_off = self._read_evaluation(
            values[3 : 3 + n_eval], ablate
        )
        rest = values[3 + n_eval :]
        bad_outputs = rest[: len(nonfinite_slots)]
        report = grads.resolve(rest[len(nonfinite_slots) :]) if grads is not None else None
        if report is not None:
            self.model.record_gradient_report(report)
        self._prune_non_finite(
            epoch, val_loss, dict(zip(nonfinite_slots, bad_outputs, strict=True)), report
        )
        train_loss = t_loss / max(t_count, 1.0)
        train_acc = 100.0 * t_correct / max(t_count, 1.0)
        shapley_values = self._shapley(ablate) if epoch == self.max_epochs and ablate else {}
        model = self.model
        for sid, value in contributions.items():
            state = model.records[sid].state
            if state is not None:
                state.record_contribution(value)
        rolled_back = False
        if self.governor is not None:
            verdict = self.governor.check(val_loss, epoch=epoch)
            if verdict.panic:
                self.governor.rollback(model, reason=verdict.reason or "governor", epoch=epoch)
                model.clear_optimizer_moments()
                if self.scaler is not None:
                    self.scaler = GradScaler("cuda")
                rolled_back = True
        if math.isfinite(val_acc):
            model.record_accuracy(val_acc)
        was_stable = self.tracker.host_stabilized
        signals = self.tracker.update(
            epoch=epoch,
            max_epochs=self.max_epochs,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=val_loss,
            val_accuracy=val_acc,
            slots=model.slot_views(),
        )
        if signals.host_stabilized and not was_stable:
            self._emit(HostStabilized(arm=self.arm, val_loss=val_loss))
        if signals.plateau_epochs == PLATEAU_EVENT_EPOCHS:
            self._emit(
                PlateauDetected(
                    arm=self.arm, plateau_epochs=signals.plateau_epochs, val_accuracy=val_acc
                )
            )
        self.pending = Observed(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=train_acc,
            val_loss=val_loss,
            val_accuracy=val_acc,
            contributions=contributions,
            all_off_accuracy=all_off,
            rolled_back=rolled_back,
            signals=signals,
            shapley=shapley_values,
        )

    def _prune_non_finite(
        self,
        epoch: int,
        val_loss: float,
        bad_batches: dict[str, float],
        report: GradientReport | None,
    ) -> None:
        """Prune the seeds whose output, or gradients, went non-finite this epoch.

        Only a healthy host blames its seeds: when the validation loss is not finite, the
        host itself is broken (a seed's NaN is then its consequence) and the governor acts.
        The output counts come from the training batches (`SeedModule.nonfinite`). Gradients
        are judged at the epoch's last batch, when the host's were finite, and only without
        loss scaling: under fp16 an overflowing gradient is the scaler's business (it skips
        the step and lowers the scale), not a sign that the seed is broken.
        """
        if not math.isfinite(val_loss):
            return
        causes = {sid: "output" for sid, count in bad_batches.items() if count > 0}
        host_finite = report is not None and (
            report.host is None or math.isfinite(report.host.norm)
        )
        if report is not None and host_finite and self.scaler is None:
            for sid, health in report.seeds.items():
                if health is not None and not math.isfinite(health.norm):
                    causes.setdefault(sid, "gradients")
        if not causes:
            return
        self.model.prune_non_finite(causes, epoch=epoch)
        if self.scaler is not None:
            # The seed's NaN gradients made the scaler skip this epoch's shared steps and
            # halve its scale each time: start it again, as after a rollback.
            self.scaler = GradScaler("cuda")

    def _shapley(self, slots: list[str]) -> dict[str, float]:
        """Shapley attribution of the blended seeds over the fused coalition configurations."""
        coalitions = coalition_configs(slots, seed=self.seed)
        configs = [alpha_overrides(c, slots) for c in coalitions]
        values = self._launch_evaluate(configs).tolist()
        total = max(values[1], 1.0)
        accuracy = {c: 100.0 * n / total for c, n in zip(coalitions, values[2:], strict=True)}
        estimates = shapley(slots, accuracy, seed=self.seed)
        pairs = interactions(slots, accuracy)
        self._emit(
            ShapleyComputed(
                arm=self.arm,
                values={sid: e.mean for sid, e in estimates.items()},
                std={sid: e.std for sid, e in estimates.items()},
                exact=all(e.exact for e in estimates.values()),
                interactions={f"{a}|{b}": v for (a, b), v in pairs.items()},
            )
        )
        return {sid: e.mean for sid, e in estimates.items()}

    def act(self, action: Action) -> EpochResult:
        """The second half of the epoch: execute ``action`` (WAIT after a rollback) and tick."""
        with self._own_rng(), self._on_stream():
            return self._act(action)

    def step(self) -> EpochResult:
        """One whole epoch with this environment's own controller."""
        observed = self.observe()
        action = Action()
        if not observed.rolled_back:
            # The environment's own random stream: a sampling controller resumes exactly.
            with self._own_rng():
                action = self.policy.decide(observed.signals)
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

    def _alphas(self) -> dict[str, float]:
        return {
            sid: float(r.state.alpha)
            for sid, r in self.model.records.items()
            if r.state is not None
        }

    def _act(self, action: Action) -> EpochResult:
        observed = self.pending
        if observed is None:
            raise EsperError("act() needs an observed epoch: call observe() first")
        self.pending = None
        epoch, model, signals = observed.epoch, self.model, observed.signals
        rolled_back = observed.rolled_back
        if rolled_back:
            action = Action()
        alphas_before = self._alphas()
        ok = self._apply(action)
        self.tracker.record_action(action.op, ok)
        fossilized = action.op is Op.FOSSILIZE and ok
        model.step_epoch(epoch=epoch)
        if (
            self.governor is not None
            and not rolled_back
            and (fossilized or epoch % self.snapshot_every == 0)
        ):
            self.governor.snapshot(model)
        counts = model.parameter_counts()
        self.history.append(
            {
                "epoch": epoch,
                "train_loss": observed.train_loss,
                "train_accuracy": observed.train_accuracy,
                "val_loss": observed.val_loss,
                "val_accuracy": observed.val_accuracy,
                "params_total": counts.total,
                "rolled_back": rolled_back,
            }
        )
        self.last_signals = signals
        # After the action and the lifecycle tick, like the alphas: the state the epoch ends in.
        stages = {
            sid: (r.state.stage.name if r.state is not None else Stage.DORMANT.name)
            for sid, r in model.records.items()
        }
        alphas_after = self._alphas()
        self._emit(
            EpochCompleted(
                epoch=epoch,
                arm=self.arm,
                train_loss=observed.train_loss,
                train_accuracy=observed.train_accuracy,
                val_loss=observed.val_loss,
                val_accuracy=observed.val_accuracy,
                params_total=counts.total,
                params_host=counts.host,
                contributions=observed.contributions,
                action=action.op.name,
                action_slot=action.slot,
                action_ok=ok,
                stages=stages,
                alphas=alphas_after,
            )
        )
        live = {sid: r for sid, r in model.records.items() if r.state is not None}
        return EpochResult(
            epoch=epoch,
            train_loss=observed.train_loss,
            train_accuracy=observed.train_accuracy,
            val_loss=observed.val_loss,
            val_accuracy=observed.val_accuracy,
            rolled_back=rolled_back,
            action=action,
            action_ok=ok,
            signals=signals,
            contributions=observed.contributions,
            all_off_accuracy=observed.all_off_accuracy,
            params_host=counts.host,
            params_total=counts.total,
            seed_params={
                sid: sum(p.numel() for p in r.module.parameters())
                for sid, r in live.items()
                if r.module is not None
            },
            alphas_before=alphas_before,
            alphas_after=alphas_after,
            stages_after={sid: r.state.stage.name for sid, r in live.items() if r.state},
            germinated_at={sid: epoch - r.state.epochs_total for sid, r in live.items() if r.state},
            shapley=observed.shapley,
        )

    def apply(self, action: Action) -> bool:
        """Execute an action; an action the lifecycle refuses is a no-op that returns False."""
        with self._own_rng():
            return self._apply(action)

    def _apply(self, action: Action) -> bool:
        model, epoch = self.model, self.epoch
        try:
            if action.op is Op.WAIT:
                return True
            if action.slot is None:
                return False
            if action.op is Op.GERMINATE:
                model.germinate(
                    action.slot,
                    action.blueprint or "",
                    algorithm=action.style.algorithm,
                    alpha_target=action.alpha_target,
                    tempo=action.tempo,
                    curve=action.style.curve,
                    steepness=action.steepness,
                    epoch=epoch,
                )
                return True
            if action.op is Op.ADVANCE:
                return model.advance(action.slot, epoch=epoch).passed
            if action.op is Op.FOSSILIZE:
                return model.fossilize(action.slot, epoch=epoch).passed
            if action.op is Op.PRUNE:
                model.schedule_prune(
                    action.slot,
                    steps=action.alpha_speed,
                    curve=action.alpha_curve,
                    steepness=action.steepness,
                    reason=action.reason or "policy",
                    epoch=epoch,
                )
                return True
            if action.op is Op.SET_ALPHA_TARGET:
                model.set_alpha_target(
                    action.slot,
                    action.alpha_target,
                    steps=action.alpha_speed,
                    curve=action.alpha_curve,
                    steepness=action.steepness,
                    algorithm=action.style.algorithm,
                    epoch=epoch,
                )
                return True
        except LifecycleError:
            return False
        return False

    # -- checkpoints -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.grown_state(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "data_generator": self.data_generator.get_state(),
            "aug_generator": self.aug_generator.get_state(),
            "rng_cpu": self._rng_cpu,
            "rng_cuda": self._rng_cuda,
            "tracker": self.tracker.state_dict(),
            "policy": self.policy.state_dict(),
            "governor": self.governor.state_dict() if self.governor is not None else None,
            "history": self.history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with self._own_rng():  # rebuilding seeds must not disturb anyone's random stream
            self.model.load_grown_state(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.data_generator.set_state(state["data_generator"])
        self.aug_generator.set_state(state["aug_generator"])
        self._rng_cpu = state["rng_cpu"]
        self._rng_cuda = state["rng_cuda"]
        self.tracker.load_state_dict(state["tracker"])
        self.policy.load_state_dict(state["policy"])
        if self.governor is not None and state["governor"] is not None:
            self.governor.load_state_dict(state["governor"])
        self.history = list(state["history"])
        self.epoch = int(state["epoch"])
