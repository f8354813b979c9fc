"""Fault injection for the reliability tests and the stress run.

esper itself has no fault seams: every fault here is injected from outside by replacing a
function that esper calls, either with pytest's ``monkeypatch`` in the test process or, for a
separate ``esper`` process, by ``tests/support/faulty_esper.py``, which installs the same
patches before it runs the CLI. The kinds:

- `DiskFull`: writes through ``esper.rundir.atomic`` (checkpoints, config.toml, summary.json), the
  JSONL sink (events.jsonl) and the run log (log.jsonl) fail with ENOSPC once a byte budget
  is spent; the write that crosses the budget is partial, as on a real full disk;
- `kill_in_checkpoint_write`: the N-th checkpoint write stops half-way through its temporary
  file and the process SIGKILLs itself (the worst moment for a checkpoint);
- `poison_losses`: the validation loss read at given (arm, epoch) becomes NaN or a spike, so
  the governor panics and rolls back (keyed on the epoch, so a resumed run replays it);
- `break_data_path`: the image task's per-batch augmentation raises on its N-th call, as a
  crashed loader would.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import types
from collections.abc import Callable, Iterable
from typing import Any

#: The spike the stress run injects: far above any loss of the image task (ln 12 ~ 2.5).
SPIKE_LOSS = 50.0

Patch = Callable[[Any, str, Any], None]


def _setattr(target: Any, name: str, value: Any) -> None:
    setattr(target, name, value)


class _OsProxy(types.ModuleType):
    """The ``os`` module as one esper module sees it, with some functions replaced."""

    def __init__(self, **overrides: Any) -> None:
        super().__init__("os")
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


class _BudgetFile:
    """A file object whose writes draw on a `DiskFull` budget."""

    def __init__(self, inner: Any, disk: DiskFull) -> None:
        self._inner = inner
        self._disk = disk

    def write(self, data: Any) -> int:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        allowed = self._disk.take(len(raw))
        if allowed < len(raw):
            if allowed:
                part = raw[:allowed]
                self._inner.write(part.decode("utf-8", "ignore") if isinstance(data, str) else part)
                self._inner.flush()
            raise self._disk.error()
        result: int = self._inner.write(data)
        return result

    def __enter__(self) -> _BudgetFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DiskFull:
    """Writes fail with ENOSPC once ``budget`` bytes have been written (see module doc)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.failures = 0

    def take(self, wanted: int) -> int:
        allowed = max(0, min(wanted, self.budget - self.used))
        self.used += allowed
        return allowed

    def error(self) -> OSError:
        self.failures += 1
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def free(self) -> None:
        """Make room again: later writes succeed."""
        self.budget = 1 << 62

    def install(self, patch: Patch = _setattr) -> None:
        import esper.rundir.atomic
        import esper.telemetry.logs
        import esper_plugins.telemetry.jsonl as jsonl

        def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
            return _BudgetFile(os.fdopen(fd, *args, **kwargs), self)

        def write(fd: int, data: Any) -> int:
            allowed = self.take(len(data))
            if allowed < len(data):
                if allowed:
                    os.write(fd, bytes(data[:allowed]))
                raise self.error()
            return os.write(fd, data)

        patch(esper.rundir.atomic, "os", _OsProxy(fdopen=fdopen))
        patch(jsonl, "os", _OsProxy(write=write))
        real_open = esper.telemetry.logs._RunLogHandler._open

        def open_log(handler: Any) -> Any:
            return _BudgetFile(real_open(handler), self)

        patch(esper.telemetry.logs._RunLogHandler, "_open", open_log)


def kill_in_checkpoint_write(nth: int, patch: Patch = _setattr) -> None:
    """The ``nth`` checkpoint write (1-based, this process) dies half-way with SIGKILL."""
    import esper.rundir.atomic
    import esper.rundir.checkpoint

    calls = [0]
    real = esper.rundir.checkpoint.write_bytes_atomic

    def write(path: Any, data: bytes) -> Any:
        calls[0] += 1
        if calls[0] < nth:
            return real(path, data)

        def half_then_die(fh: Any) -> None:
            fh.write(data[: len(data) // 2])
            fh.flush()
            os.fsync(fh.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        return esper.rundir.atomic.write_atomic(path, half_then_die)

    patch(esper.rundir.checkpoint, "write_bytes_atomic", write)


def poison_losses(
    nan: Iterable[tuple[str, int]] = (),
    spikes: Iterable[tuple[str, int]] = (),
    patch: Patch = _setattr,
) -> None:
    """The validation loss of ``(arm, epoch)`` reads NaN (``nan``) or `SPIKE_LOSS` (``spikes``)."""
    import attrs

    import esper.engine.environment as environment

    nan_at, spike_at = set(map(tuple, nan)), set(map(tuple, spikes))
    real = environment.Environment._read_epoch

    def read_epoch(self: Any) -> Any:
        key = (self.arm, self.epoch)
        if key not in nan_at | spike_at:
            return real(self)
        loss = math.nan if key in nan_at else SPIKE_LOSS
        clean = environment.read_evaluation

        def poisoned(values: Any, ablate: Any) -> Any:
            return attrs.evolve(clean(values, ablate), val_loss=loss)

        # The epoch's figures are read with the loss poisoned; everything after (the seeds'
        # non-finite check, the governor) sees it as it would a real one.
        environment.read_evaluation = poisoned  # type: ignore[assignment]
        try:
            return real(self)
        finally:
            environment.read_evaluation = clean  # type: ignore[assignment]

    patch(environment.Environment, "_read_epoch", read_epoch)


class DataPathCrash(OSError):
    """What `break_data_path` raises: a loader that lost its worker."""


def break_data_path(nth: int, patch: Patch = _setattr) -> list[int]:
    """The image task's augmentation raises `DataPathCrash` on its ``nth`` call (1-based).

    Returns the call counter (a one-element list), so a test can size ``nth`` from a run.
    """
    import esper_plugins.tasks.image as image

    calls = [0]
    real = image.crop_flip

    def augment(x: Any, generator: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == nth:
            raise DataPathCrash(f"simulated loader worker crash (augmentation call {nth})")
        return real(x, generator, **kwargs)

    patch(image, "crop_flip", augment)
    return calls


def install(spec: dict[str, Any]) -> None:
    """Install the faults a `faulty_esper.py` spec names (keys as the functions above)."""
    if "disk_full" in spec:
        DiskFull(int(spec["disk_full"])).install()
    if "kill_in_checkpoint_write" in spec:
        kill_in_checkpoint_write(int(spec["kill_in_checkpoint_write"]))
    if "nan" in spec or "spikes" in spec:
        poison_losses(
            nan=[tuple(x) for x in spec.get("nan", [])],
            spikes=[tuple(x) for x in spec.get("spikes", [])],
        )
    if "break_data_path" in spec:
        break_data_path(int(spec["break_data_path"]))
