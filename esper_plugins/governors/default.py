"""The default governor: panic detection on the validation loss, CPU snapshots and rollback.

Detection (`DefaultGovernor.check`), in this order:

1. a NaN or infinite loss panics at once (``governor_nan``);
2. with fewer than ``min_samples`` losses in the history the loss is appended and nothing else
   happens;
3. collapse to a random guess (``governor_lobotomy``): the history mean is below
   ``lobotomy_mean_fraction * L_rand`` (the model had learned something) and the loss is within
   ``lobotomy_tolerance * L_rand`` of ``L_rand = ln(num_outputs)``, taken from the task;
4. divergence: a loss above the absolute level ``max(absolute_floor, absolute_factor *
   L_rand)``, above ``mean + sensitivity * std`` and above ``multiplier * mean`` is an anomaly.
   Anomalies stay out of the history; ``min_panics`` consecutive ones panic
   (``governor_divergence``). Any other loss resets the count and joins the history (the last
   ``history_window`` are kept).

Snapshots hold the host's parameters and persistent buffers and those of FOSSILIZED seeds;
nothing of a seed that can still be pruned. They live in CPU buffers that are allocated once
and reused while a tensor's shape, dtype and layout stay the same (pinned when the weights are
on a CUDA device, so the device-to-host copies are asynchronous), and a snapshot is published
only after one synchronisation per device. Call `snapshot` on the stream that trains the model
(the default stream in the engine).

Fossilized seeds and snapshots: the engine snapshots right after every fossilization (the
reference cadence: every 5th epoch and immediately after a fossilization), so a snapshot
normally covers every fossilized seed. If a seed was fossilized after the last snapshot,
rollback keeps it (fossilization is permanent) with the weights it has at rollback time, and
names it in the event's ``seeds_unrestored``.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs
import torch

from esper.plugin import (
    Event,
    Governor,
    MorphogeneticModel,
    Stage,
    TaskInfo,
    Verdict,
    is_legal_transition,
)
from esper_plugins.governors.config import DefaultGovernorConfig
from esper_plugins.governors.events import GovernorPanic, GovernorRollback

NAN = "governor_nan"
LOBOTOMY = "governor_lobotomy"
DIVERGENCE = "governor_divergence"


class SnapshotMismatchError(RuntimeError):
    """The model no longer matches the snapshot (a host tensor appeared, vanished or changed)."""


@attrs.define
class _Buffer:
    """A persistent CPU buffer and the layout of the live tensor it was allocated for."""

    tensor: torch.Tensor
    pinned: bool
    source_stride: tuple[int, ...]

    def fits(self, live: torch.Tensor, pin: bool) -> bool:
        return (
            self.pinned == pin
            and self.tensor.shape == live.shape
            and self.tensor.dtype == live.dtype
            and self.source_stride == live.stride()
        )


def _tracked(model: MorphogeneticModel) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors a snapshot covers, by state-dict key, and the slot of each seed key.

    Host parameters and persistent buffers, plus those of fossilized seeds; tied tensors once
    (under their first key). Seeds that can still be pruned are left out entirely.
    """
    seed_of: dict[int, tuple[str, bool]] = {}
    for slot_id, module in model.seed_modules():
        state = model.records[slot_id].state
        fossilized = state is not None and state.stage is Stage.FOSSILIZED
        for value in module.state_dict(keep_vars=True).values():
            if isinstance(value, torch.Tensor):
                seed_of[id(value)] = (slot_id, fossilized)
    tensors: dict[str, torch.Tensor] = {}
    owners: dict[str, str] = {}
    seen: set[int] = set()
    for key, value in model.state_dict(keep_vars=True).items():
        if not isinstance(value, torch.Tensor) or id(value) in seen:
            continue
        seen.add(id(value))
        owner = seed_of.get(id(value))
        if owner is not None:
            slot_id, fossilized = owner
            if not fossilized:
                continue
            owners[key] = slot_id
        tensors[key] = value
    return tensors, owners


def _accelerators(tensors: Iterable[torch.Tensor]) -> set[torch.device]:
    return {t.device for t in tensors if t.device.type != "cpu"}


def _sync_streams(devices: set[torch.device]) -> None:
    """Wait for the work queued on each device's current stream (the copies just issued)."""
    for device in devices:
        if device.type == "cuda":
            torch.cuda.current_stream(device).synchronize()
        else:
            torch.accelerator.synchronize(device)


def _sync_devices(devices: set[torch.device]) -> None:
    """Wait for everything queued on each device, on every stream."""
    for device in devices:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        else:
            torch.accelerator.synchronize(device)


class DefaultGovernor(Governor):
    """The built-in governor; see the module documentation for what it does."""

    def __init__(
        self,
        config: DefaultGovernorConfig | None = None,
        *,
        task: TaskInfo,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        super().__init__(task=task, emit=emit)
        self.config = config or DefaultGovernorConfig()
        #: Cross-entropy of a uniform guess for this task, ln(classes or vocabulary size).
        self.random_guess_loss = task.random_guess_loss
        self.absolute_threshold = self.config.absolute_threshold(self.random_guess_loss)
        self.history: deque[float] = deque(maxlen=self.config.history_window)
        self.consecutive_anomalies = 0
        self._panic: tuple[str, float] | None = None  # reason and loss of the pending panic
        self._buffers: dict[str, _Buffer] = {}
        #: Keys of the published snapshot, None while there is none (or one is being written).
        self._published: tuple[str, ...] | None = None

    # -- detection -------------------------------------------------------------------------

    def check(self, val_loss: float, *, epoch: int) -> Verdict:
        loss = float(val_loss)
        cfg = self.config
        if not math.isfinite(loss):
            return self._declare(NAN, loss, epoch)
        if len(self.history) < cfg.min_samples:
            self.history.append(loss)
            return Verdict(panic=False)
        mean = statistics.fmean(self.history)
        l_rand = self.random_guess_loss
        if (
            mean < cfg.lobotomy_mean_fraction * l_rand
            and abs(loss - l_rand) < cfg.lobotomy_tolerance * l_rand
        ):
            return self._declare(LOBOTOMY, loss, epoch)
        std = statistics.stdev(self.history, mean)
        anomaly = (
            loss > self.absolute_threshold
            and loss > mean + cfg.sensitivity * std
            and loss > cfg.multiplier * mean
        )
        if anomaly:
            self.consecutive_anomalies += 1
            if self.consecutive_anomalies >= cfg.min_panics:
                return self._declare(DIVERGENCE, loss, epoch)
            return Verdict(panic=False)
        self.consecutive_anomalies = 0
        self.history.append(loss)
        return Verdict(panic=False)

    def _declare(self, reason: str, loss: float, epoch: int) -> Verdict:
        self._panic = (reason, loss)
        if self.emit is not None:
            self.emit(GovernorPanic(reason=reason, val_loss=loss, epoch=epoch))
        return Verdict(panic=True, reason=reason)

    # -- snapshot and rollback -------------------------------------------------------------

    @property
    def has_snapshot(self) -> bool:
        return self._published is not None

    def snapshot_buffers(self) -> Mapping[str, torch.Tensor]:
        """The CPU tensors of the current snapshot, by state-dict key (read-only view)."""
        if self._published is None:
            return MappingProxyType({})
        return MappingProxyType({k: self._buffers[k].tensor for k in self._published})

    @property
    def snapshot_nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.snapshot_buffers().values())

    def snapshot(self, model: MorphogeneticModel) -> None:
        tensors, _ = _tracked(model)
        # The buffers are overwritten in place: the old snapshot is gone from here on.
        self._published = None
        buffers: dict[str, _Buffer] = {}
        with torch.no_grad():
            for key, live in tensors.items():
                pin = live.is_cuda  # page-locked memory only pays off for device-to-host copies
                buf = self._buffers.get(key)
                if buf is None or not buf.fits(live, pin):
                    buf = _Buffer(_allocate(live, pin), pin, live.stride())
                buf.tensor.copy_(live, non_blocking=True)
                buffers[key] = buf
        _sync_streams(_accelerators(tensors.values()))
        self._buffers = buffers
        self._published = tuple(tensors)

    def rollback(self, model: MorphogeneticModel, *, reason: str, epoch: int) -> None:
        keys = self._published
        if keys is None:
            raise RuntimeError("governor rollback before any snapshot: call snapshot(model) first")
        tensors, owners = _tracked(model)
        self._check_matches(keys, tensors, owners)
        snapped = set(keys)
        unrestored = sorted({slot for k, slot in owners.items() if k not in snapped})
        pruned: list[str] = []
        for slot_id, record in model.records.items():
            state = record.state
            if state is not None and is_legal_transition(state.stage, Stage.PRUNED):
                model.prune(slot_id, reason, initiator="governor", epoch=epoch)
                pruned.append(slot_id)
        devices = _accelerators(tensors.values())
        # Kernels still queued on any stream may write the weights: let them finish first.
        _sync_devices(devices)
        with torch.no_grad():
            for key in keys:
                tensors[key].copy_(self._buffers[key].tensor, non_blocking=True)
        # The next snapshot overwrites these buffers; the copies out of them must be done.
        _sync_streams(devices)
        val_loss = self._panic[1] if self._panic is not None else None
        self._panic = None
        self.consecutive_anomalies = 0
        if self.emit is not None:
            self.emit(
                GovernorRollback(
                    reason=reason,
                    epoch=epoch,
                    val_loss=val_loss,
                    seeds_pruned=pruned,
                    seeds_unrestored=unrestored,
                )
            )

    def _check_matches(
        self, keys: tuple[str, ...], tensors: Mapping[str, torch.Tensor], owners: Mapping[str, str]
    ) -> None:
        problems: list[str] = []
        snapped = set(keys)
        missing = [k for k in keys if k not in tensors]
        if missing:
            problems.append(f"gone from the model: {_some(missing)}")
        new_host = [k for k in tensors if k not in snapped and k not in owners]
        if new_host:
            problems.append(f"host tensors not in the snapshot: {_some(new_host)}")
        changed = [
            k
            for k in keys
            if k in tensors
            and (
                tensors[k].shape != self._buffers[k].tensor.shape
                or tensors[k].dtype != self._buffers[k].tensor.dtype
            )
        ]
        if changed:
            problems.append(f"shape or dtype changed: {_some(changed)}")
        if problems:
            raise SnapshotMismatchError(
                "the model does not match the governor's snapshot (take a new snapshot after "
                "changing the host or loading a checkpoint): " + "; ".join(problems)
            )

    # -- persistence of the detector ----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Detector state and the snapshot itself (CPU tensors), so a resumed run that rolls
        back restores exactly what the uninterrupted run would have restored."""
        return {
            "history": list(self.history),
            "consecutive_anomalies": self.consecutive_anomalies,
            "panic": list(self._panic) if self._panic is not None else None,
            "snapshot": dict(self.snapshot_buffers()) if self._published is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = deque(
            (float(x) for x in state["history"]), maxlen=self.config.history_window
        )
        self.consecutive_anomalies = int(state["consecutive_anomalies"])
        panic = state["panic"]
        self._panic = (str(panic[0]), float(panic[1])) if panic is not None else None
        snapshot = state.get("snapshot")
        if snapshot is not None:
            self._buffers = {
                key: _Buffer(tensor.clone(), False, tensor.stride())
                for key, tensor in snapshot.items()
            }
            self._published = tuple(snapshot)


def _allocate(live: torch.Tensor, pin: bool) -> torch.Tensor:
    # Keep the live tensor's layout (e.g. channels_last) so each copy is one dense transfer;
    # empty_like falls back to contiguous for a layout that is not dense.
    template = torch.empty_like(live, device="cpu")
    if not pin:
        return template
    return torch.empty_strided(
        template.shape, template.stride(), dtype=live.dtype, device="cpu", pin_memory=True
    )


def _some(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def build_default_governor(
    config: DefaultGovernorConfig | None = None,
    *,
    task: TaskInfo,
    emit: Callable[[Event], None] | None = None,
) -> DefaultGovernor:
    """GovernorSpec factory: ``factory(config, task=TaskInfo, emit=callable)``."""
    return DefaultGovernor(config, task=task, emit=emit)
