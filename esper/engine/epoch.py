"""One environment's epoch work on the device: a training pass and the fused evaluation.

`EpochLoop.train_batches` trains one pass (or ``batches_per_epoch`` batches), yielding after
every batch so a runner can interleave environments; loss and correct counts accumulate on the
device in accumulators of one shape and dtype for every task kind (review T1-1), and the
gradient-health kernels of the last batch are launched, not read. `EpochLoop.launch_evaluate`
evaluates every alpha configuration in one fused counterfactual pass per validation batch,
again leaving its sums on the device. The environment reads everything in one transfer.

Mixed precision goes through ``torch.amp`` only. bf16 has float32's exponent range, so its
gradients cannot underflow and it needs no loss scaling: backward runs on the raw loss.
fp16 gradients can underflow, so fp16 scales the loss with ``torch.amp.GradScaler`` and
unscales before clipping; a step whose gradients overflowed is skipped by the scaler.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import torch
from torch import nn

# From its own module: torch 2.10's torch.amp does not re-export it for type checkers.
from torch.amp.grad_scaler import GradScaler

from esper.contracts.task import Augment, Task, TaskData
from esper.engine.compilation import mark_batch_dynamic
from esper.engine.events import ShapleyComputed
from esper.errors import DataError, EsperError
from esper.growth.attribution import alpha_overrides, coalition_configs, interactions, shapley
from esper.growth.gradient_health import GradientReport, PendingGradients
from esper.growth.model import MorphogeneticModel
from esper.lifecycle import Stage

#: Gradient-norm clip, applied to the host and to each seed separately.
MAX_GRAD_NORM = 1.0


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


def accuracy_counts(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Correct predictions as an int64 scalar, for classification and language models alike."""
    return (outputs.argmax(dim=-1) == targets).sum()


@attrs.frozen(kw_only=True)
class Evaluation:
    """One evaluation read back: config 0's loss and accuracy, and the ablations'."""

    val_loss: float
    val_accuracy: float
    #: Each blended seed's contribution: accuracy with it minus without it (percent points).
    contributions: dict[str, float]
    #: Accuracy with every blended seed switched off (None when none is blended).
    all_off_accuracy: float | None


def ablation_configs(model: MorphogeneticModel) -> tuple[list[str], list[dict[str, float]]]:
    """The blended seeds, and the configurations that measure them: everything on, each seed
    off in turn, and (with two or more) every one off at once."""
    ablate = [
        sid
        for sid, record in model.records.items()
        if record.state is not None
        and record.state.stage in (Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED)
        and record.state.alpha > 0.0
    ]
    configs: list[dict[str, float]] = [{}] + [{sid: 0.0} for sid in ablate]
    if len(ablate) > 1:
        configs.append(dict.fromkeys(ablate, 0.0))
    return ablate, configs


def read_evaluation(values: Sequence[float], ablate: list[str]) -> Evaluation:
    """`EpochLoop.launch_evaluate`'s figures, transferred, as an `Evaluation`."""
    total = max(values[1], 1.0)
    accuracies = [100.0 * c / total for c in values[2:]]
    contributions = {sid: accuracies[0] - accuracies[i + 1] for i, sid in enumerate(ablate)}
    all_off = None
    if len(ablate) == 1:
        all_off = accuracies[1]
    elif len(ablate) > 1:
        all_off = accuracies[-1]
    return Evaluation(
        val_loss=values[0] / total,
        val_accuracy=accuracies[0],
        contributions=contributions,
        all_off_accuracy=all_off,
    )


def non_finite_causes(
    val_loss: float,
    bad_batches: dict[str, float],
    report: GradientReport | None,
    *,
    scaled: bool,
) -> dict[str, str]:
    """The seeds to prune for going non-finite this epoch: slot -> ``output`` / ``gradients``.

    Only a healthy host blames its seeds: when the validation loss is not finite, the host
    itself is broken (a seed's NaN is then its consequence) and the governor acts. The output
    counts come from the training batches (`SeedModule.nonfinite`). Gradients are judged at
    the epoch's last batch, when the host's were finite, and only without loss scaling
    (``scaled``): under fp16 an overflowing gradient is the scaler's business (it skips the
    step and lowers the scale), not a sign that the seed is broken.
    """
    if not math.isfinite(val_loss):
        return {}
    causes = {sid: "output" for sid, count in bad_batches.items() if count > 0}
    host_finite = report is not None and (report.host is None or math.isfinite(report.host.norm))
    if report is not None and host_finite and not scaled:
        for sid, health in report.seeds.items():
            if health is not None and not math.isfinite(health.norm):
                causes.setdefault(sid, "gradients")
    return causes


class EpochLoop:
    """The training pass and the evaluation of one environment (module docstring)."""

    def __init__(
        self,
        *,
        model: MorphogeneticModel,
        task: Task,
        data: TaskData,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        amp_dtype: torch.dtype | None,
        compiled: bool,
        batches_per_epoch: int | None,
        generators: tuple[torch.Generator, torch.Generator],
        arm: str,
    ) -> None:
        self.model = model
        self.task = task
        self.data = data
        self.optimizer = optimizer
        self.device = device
        self.amp_dtype = amp_dtype
        self.compiled = compiled
        self.batches_per_epoch = batches_per_epoch
        # Data order (CPU) and augmentation (on the device): saved in checkpoints.
        self.data_generator, self.aug_generator = generators
        self.arm = arm
        self.scaler = GradScaler("cuda") if amp_dtype is torch.float16 else None
        #: ``[loss_sum, correct, count]`` (float64, on the device) of the last training pass.
        self.train_stats = torch.zeros(3, dtype=torch.float64, device=device)
        #: The last pass's gradient-health kernels, launched but not read.
        self.pending_grads: PendingGradients | None = None
        #: Samples the last training pass trained on (known on the host: no device read).
        self.trained_samples = 0

    def restart_scaler(self) -> None:
        """A fresh fp16 loss scaler (after a rollback, or a seed whose NaN gradients made the
        scaler skip steps and shrink its scale)."""
        if self.scaler is not None:
            self.scaler = GradScaler("cuda")

    def autocast(self) -> Any:
        return torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )

    def train_batches(self, epoch: int) -> Iterator[None]:
        """Train one pass, yielding after each batch; leaves `train_stats` on the device."""
        model, data = self.model, self.data
        model.train()
        n = data.train_x.shape[0]
        bs = self.task.info.batch_size
        order = torch.randperm(n, generator=self.data_generator).to(self.device)
        batches = math.ceil(n / bs)
        if self.batches_per_epoch is not None:
            batches = min(batches, self.batches_per_epoch)
        self.trained_samples = min(n, batches * bs)
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
                x = self._augment(data.augment, x, epoch, b)
            out, loss = self._step(x, y, clip_groups, last=b == batches - 1)
            tokens = y.numel()
            loss_sum += loss.detach().float() * tokens
            correct += accuracy_counts(out.detach(), y)
            count += tokens
            yield
        self.train_stats = torch.stack([loss_sum.double(), correct.double(), count.double()])

    def _step(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        clip_groups: list[list[nn.Parameter]],
        *,
        last: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on one batch; returns the output and the loss."""
        if self.compiled:
            mark_batch_dynamic(x)  # the shorter last batch reuses the epoch's graph
        with self.autocast():
            out = self.model(x)
            loss = self.task.loss(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()  # bf16 and fp32: no scaling needed (see the module docstring)
        if last:
            # Launched now, read at the end of the epoch with everything else.
            self.pending_grads = self.model.launch_gradient_report()
        for group in clip_groups:
            nn.utils.clip_grad_norm_(group, MAX_GRAD_NORM, foreach=True)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return out, loss

    def _augment(self, augment: Augment, x: torch.Tensor, epoch: int, batch: int) -> torch.Tensor:
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
                f"{epoch}, batch {batch + 1} ({self.arm}): {type(exc).__name__}: {exc}"
            ) from exc

    def launch_evaluate(self, configs: list[dict[str, float]]) -> torch.Tensor:
        """Validation loss of config 0 and correct counts of every config, on the device:
        ``[loss_sum, count, correct_0, ..., correct_K-1]`` (float64)."""
        model, data = self.model, self.data
        k = len(configs)
        loss_sum = torch.zeros((), dtype=torch.float32, device=self.device)
        correct = torch.zeros(k, dtype=torch.int64, device=self.device)
        count = torch.zeros((), dtype=torch.int64, device=self.device)
        bs = max(self.task.info.batch_size, 256)
        n = data.val_x.shape[0]
        with torch.no_grad():
            for start in range(0, n, bs):
                x, y = data.val_x[start : start + bs], data.val_y[start : start + bs]
                with self.autocast():
                    out = model.fused_forward(x, configs)  # [K, B, ...]
                loss_sum += self.task.loss(out[0], y).float() * y.numel()
                correct += (out.argmax(dim=-1) == y.unsqueeze(0)).reshape(k, -1).sum(dim=1)
                count += y.numel()
        return torch.cat(
            [loss_sum.double().reshape(1), count.double().reshape(1), correct.double()]
        )

    def shapley(self, slots: list[str], *, seed: int) -> tuple[dict[str, float], ShapleyComputed]:
        """Shapley values of the blended ``slots`` over the fused coalition configurations
        (accuracy, percent points), and the event that reports them."""
        coalitions = coalition_configs(slots, seed=seed)
        configs = [alpha_overrides(c, slots) for c in coalitions]
        values = self.launch_evaluate(configs).tolist()
        total = max(values[1], 1.0)
        accuracy = {c: 100.0 * n / total for c, n in zip(coalitions, values[2:], strict=True)}
        estimates = shapley(slots, accuracy, seed=seed)
        pairs = interactions(slots, accuracy)
        event = ShapleyComputed(
            arm=self.arm,
            values={sid: e.mean for sid, e in estimates.items()},
            std={sid: e.std for sid, e in estimates.items()},
            exact=all(e.exact for e in estimates.values()),
            interactions={f"{a}|{b}": v for (a, b), v in pairs.items()},
        )
        return {sid: e.mean for sid, e in estimates.items()}, event
