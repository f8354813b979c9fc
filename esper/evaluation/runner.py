"""Run an evaluation's cells, in worker processes where there are several, and cache them.

Cells run seed by seed (every controller of a seed before the next seed), the reference
controller first, so that a stopped evaluation holds whole seeds and each larger-static cell
can start as soon as its reference has finished. Each finished cell is written atomically to
``cells/<controller>/seed-<n>.json`` at once; a cell whose file holds the same fingerprint is
not run again, so rerunning a stopped or extended evaluation (more seeds, another controller)
runs only what is missing.

Workers are separate processes (``spawn``), each with its own plugin manager and
``threads`` torch threads, so cells never share random streams or torch state. A single
worker runs the cells in this process.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from esper.errors import EsperError
from esper.evaluation.cell import CellTask, run_cell
from esper.evaluation.plan import (
    LARGER_STATIC,
    Controller,
    cell_path,
    controller_raw,
    fingerprint,
)
from esper.registry import Registries
from esper.rundir.atomic import write_text_atomic

#: ``progress(done, total, cell, cached)`` after each cell.
Progress = Callable[[int, int, dict[str, Any], bool], None]


@attrs.frozen(kw_only=True)
class PluginOptions:
    """How a worker builds its plugin manager: as this command's root options did."""

    plugins: tuple[str, ...] = ()
    autoload: bool | None = None
    strict: bool | None = None


@attrs.define(kw_only=True)
class EvalRunner:
    eval_dir: Path
    base: dict[str, Any]
    controllers: list[Controller]
    seeds: list[int]
    #: The controller whose grown arms size and budget the larger-static cells (None: none).
    reference: str | None
    registries: Registries
    plugins: PluginOptions = attrs.field(factory=PluginOptions)
    workers: int = 1
    threads: int = 1
    results: dict[tuple[str, int], dict[str, Any]] = attrs.field(factory=dict)
    #: Cells this runner trained (the rest came from the cache).
    trained: int = 0

    @property
    def total(self) -> int:
        per_seed = len(self.controllers) + (self.reference is not None)
        return per_seed * len(self.seeds)

    # -- cells -------------------------------------------------------------------------------

    def _task(self, controller: Controller, seed: int) -> CellTask:
        raw = controller_raw(self.base, controller, seed)
        return CellTask(
            label=controller.label,
            seed=seed,
            fingerprint=fingerprint(raw, controller.digest),
            raw=raw,
        )

    def _larger_task(self, seed: int) -> CellTask:
        reference = self.results[(str(self.reference), seed)]
        raw = controller_raw(self.base, Controller(label=LARGER_STATIC, kind=LARGER_STATIC), seed)
        raw["run"]["budget_flops"] = float(reference["flops"]["train"])
        architecture = tuple((str(s), str(b), int(a)) for s, b, a in reference["architecture"])
        return CellTask(
            label=LARGER_STATIC,
            seed=seed,
            fingerprint=fingerprint(raw, reference["fingerprint"], architecture),
            raw=raw,
            architecture=architecture,
        )

    def _cached(self, task: CellTask) -> dict[str, Any] | None:
        path = cell_path(self.eval_dir, task.label, task.seed)
        try:
            cell = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return (
            cell if isinstance(cell, dict) and cell.get("fingerprint") == task.fingerprint else None
        )

    def _record(self, cell: dict[str, Any], cached: bool, progress: Progress | None) -> None:
        self.results[(cell["controller"], cell["seed"])] = cell
        if not cached:
            self.trained += 1
            path = cell_path(self.eval_dir, cell["controller"], cell["seed"])
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(cell, indent=1) + "\n")
        if progress is not None:
            progress(len(self.results), self.total, cell, cached)

    def _ordered(self) -> list[Controller]:
        return sorted(self.controllers, key=lambda c: c.label != self.reference)

    def _pending(self, progress: Progress | None) -> Iterator[CellTask]:
        """Every cell still to run, in order; cached cells are recorded on the way."""
        for seed in self.seeds:
            for controller in self._ordered():
                task = self._task(controller, seed)
                cell = self._cached(task)
                if cell is None:
                    yield task
                else:
                    self._record(cell, True, progress)

    def _larger_ready(self, progress: Progress | None, waiting: set[int]) -> list[CellTask]:
        """Larger-static cells whose reference has finished (cached ones recorded)."""
        ready: list[CellTask] = []
        for seed in sorted(waiting):
            if (str(self.reference), seed) in self.results:
                waiting.discard(seed)
                task = self._larger_task(seed)
                cell = self._cached(task)
                if cell is None:
                    ready.append(task)
                else:
                    self._record(cell, True, progress)
        return ready

    # -- running -----------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> dict[tuple[str, int], dict[str, Any]]:
        """Run (or read from the cache) every cell; returns them by (controller, seed)."""
        waiting = set(self.seeds) if self.reference is not None else set()
        queue = list(self._pending(progress))
        queue += self._larger_ready(progress, waiting)
        if self.workers <= 1:
            while queue:
                self._record(run_cell(queue.pop(0), self.registries), False, progress)
                queue += self._larger_ready(progress, waiting)
        elif queue:
            self._run_pool(queue, waiting, progress)
        return self.results

    def _run_pool(
        self, queue: list[CellTask], waiting: set[int], progress: Progress | None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        args = (self.plugins, self.threads)
        with context.Pool(self.workers, initializer=_init_worker, initargs=args) as pool:
            running = {(t.label, t.seed): (t, pool.apply_async(_work, (t,))) for t in queue}
            while running:
                for key, (task, handle) in list(running.items()):
                    handle.wait(0.2)
                    if not handle.ready():
                        continue
                    del running[key]
                    try:
                        cell = handle.get()
                    except Exception as exc:  # a worker's failure, re-raised here
                        raise EsperError(f"{task.label}, seed {task.seed}: {exc}") from None
                    self._record(cell, False, progress)
                    for extra in self._larger_ready(progress, waiting):
                        running[(extra.label, extra.seed)] = (
                            extra,
                            pool.apply_async(_work, (extra,)),
                        )


_WORKER_REGISTRIES: Registries | None = None


def _init_worker(plugins: PluginOptions, threads: int) -> None:
    """Each worker: its own plugin manager, ``threads`` torch threads; Ctrl-C is the parent's."""
    global _WORKER_REGISTRIES
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    from esper.registry.manager import build_manager

    torch.set_num_threads(threads)
    manager = build_manager(plugins.plugins, autoload=plugins.autoload, strict=plugins.strict)
    _WORKER_REGISTRIES = Registries(manager)


def _work(task: CellTask) -> dict[str, Any]:
    if _WORKER_REGISTRIES is None:
        raise RuntimeError("evaluation worker used before its initialiser ran")
    return run_cell(task, _WORKER_REGISTRIES)
