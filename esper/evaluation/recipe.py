"""The evaluation recipe: from a base configuration and the command's choices to ``eval.json``.

An evaluation directory (``evals/<name>/``) holds:

==================  ==============================================================
``plan.json``       what the last command asked for: task, controllers, seeds, baseline,
                    larger-static reference, and the resolved base configuration
``cells/``          one JSON record per (controller, seed), the cache
``eval.json``       the summary of the last command's cells (`esper.evaluation.summary`)
``eval.md``         its tables in Markdown
==================  ==============================================================

Its default name is the task and a digest of the base configuration, and controllers and seeds
are not part of it: the same command run again, or run with more seeds or another controller,
continues in the same directory and reuses every cell it already holds. The telemetry sinks
that ``[telemetry]`` selects receive the tables as ``eval.summary`` (`esper.evaluation.publish`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import attrs

from esper.config.loading import structure, unstructure
from esper.config.schema import Component
from esper.errors import EsperError
from esper.evaluation.events import summary_event
from esper.evaluation.markdown import render_markdown
from esper.evaluation.plan import (
    STATIC,
    Controller,
    controller_raw,
    fingerprint,
    parse_controllers,
    seed_list,
)
from esper.evaluation.publish import EvalTelemetry, selected_sinks
from esper.evaluation.runner import EvalRunner, PluginOptions, Progress
from esper.evaluation.summary import summarize
from esper.registry import Registries
from esper.rundir.atomic import write_text_atomic

PLAN_NAME = "plan.json"
EVAL_NAME = "eval.json"
MARKDOWN_NAME = "eval.md"
#: Base-config keys that are per cell (seed, controller) or do not change results.
_NOT_IN_BASE = {"policy", "telemetry", "sinks", "train", "reward", "agent", "runner"}
_RUN_NOT_IN_BASE = {"seed", "out", "static_baseline", "checkpoint_every"}


def base_config(raw: dict[str, Any], registries: Registries) -> tuple[dict[str, Any], str]:
    """The resolved configuration every cell starts from (validated here, once), and the name
    of the controller the configuration selects (``[policy]``, or the default one)."""
    resolved = unstructure(structure(raw, registries, source=None))
    policy = str(resolved["policy"]["name"]).split(":")[-1]
    base = {k: v for k, v in resolved.items() if k not in _NOT_IN_BASE}
    base["run"] = {k: v for k, v in base["run"].items() if k not in _RUN_NOT_IN_BASE}
    if isinstance(raw.get("policy"), dict):
        base["policy"] = dict(raw["policy"])  # options for the controller they name
    return base, policy


def usable_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@attrs.frozen(kw_only=True)
class Choices:
    """What ``esper eval`` was asked for, as given on the command line."""

    #: Comma-separated controllers (None: static and the configured controller).
    controllers: str | None = None
    seeds: int = 10
    first_seed: int | None = None
    #: Compared with every other controller (None: the first one that grows).
    baseline: str | None = None
    #: Sizes the larger-static arm (None: the baseline; "none": no such arm).
    reference: str | None = None
    workers: int | None = None
    out: str = "evals"
    name: str | None = None


def plan_evaluation(
    raw: dict[str, Any], registries: Registries, choices: Choices, plugins: PluginOptions
) -> Evaluation:
    """The evaluation ``choices`` ask for on the configuration ``raw``."""
    base, configured = base_config(raw, registries)
    names = choices.controllers.split(",") if choices.controllers else [STATIC, configured]
    controllers = parse_controllers(names)
    seeds = seed_list(choices.seeds, choices.first_seed)
    growers = [c.label for c in controllers if c.label != STATIC]
    baseline = choices.baseline or (growers[0] if growers else None)
    reference = baseline if choices.reference is None else choices.reference
    if reference == "none":
        reference = None
    if choices.workers is not None and choices.workers < 1:
        raise EsperError(f"--workers must be at least 1, got {choices.workers}")
    cells = len(seeds) * (len(controllers) + (reference is not None))
    cores = usable_cores()
    workers = choices.workers or (1 if base["run"]["device"] != "cpu" else min(cores, cells))
    task = base["task"]["name"]
    return Evaluation(
        eval_dir=Path(choices.out) / (choices.name or default_name(task, base)),
        task=task,
        base=base,
        controllers=controllers,
        seeds=seeds,
        baseline=baseline,
        reference=reference,
        registries=registries,
        plugins=plugins,
        workers=workers,
        threads=max(1, cores // workers),
        sinks=selected_sinks(raw, registries),
    )


@attrs.define(kw_only=True)
class Evaluation:
    """One ``esper eval`` invocation."""

    eval_dir: Path
    task: str
    base: dict[str, Any]
    controllers: list[Controller]
    seeds: list[int]
    baseline: str | None
    reference: str | None
    registries: Registries
    plugins: PluginOptions
    workers: int
    threads: int
    #: The telemetry sinks of ``[telemetry]`` (none without it: `esper.evaluation.publish`).
    sinks: dict[str, Component] = attrs.field(factory=dict)

    @property
    def cells(self) -> int:
        """Cells in all: every controller on every seed, and the larger-static arm's."""
        return len(self.seeds) * (len(self.controllers) + (self.reference is not None))

    def check(self) -> None:
        """Resolve every controller's configuration now: a bad one stops before any training."""
        for controller in self.controllers:
            raw = controller_raw(self.base, controller, self.seeds[0])
            structure(raw, self.registries, source=f"--controllers {controller.label}")
        labels = [c.label for c in self.controllers]
        for option, value in (("--baseline", self.baseline), ("--larger-static", self.reference)):
            if value is not None and value not in labels:
                raise EsperError(
                    f"{option} {value!r} is not one of --controllers ({', '.join(labels)})"
                )

    def run(self, progress: Progress | None = None) -> dict[str, Any]:
        """Run or reuse every cell, then write ``eval.json`` and emit ``eval.summary``;
        returns the content of ``eval.json``."""
        self.check()
        self.eval_dir.mkdir(parents=True, exist_ok=True)
        with EvalTelemetry(self.sinks, self.registries, self.eval_dir, config=self.base) as bus:
            document = self._evaluate(progress)
            bus.emit(summary_event(document))
        return document

    def _evaluate(self, progress: Progress | None) -> dict[str, Any]:
        plan = {
            "task": self.task,
            "controllers": [attrs.asdict(c) for c in self.controllers],
            "seeds": self.seeds,
            "baseline": self.baseline,
            "larger_static_reference": self.reference,
            "base_config": self.base,
            "base_fingerprint": fingerprint(self.base),
        }
        write_text_atomic(self.eval_dir / PLAN_NAME, json.dumps(plan, indent=1) + "\n")
        runner = EvalRunner(
            eval_dir=self.eval_dir,
            base=self.base,
            controllers=self.controllers,
            seeds=self.seeds,
            reference=self.reference,
            registries=self.registries,
            plugins=self.plugins,
            workers=self.workers,
            threads=self.threads,
        )
        started = time.perf_counter()
        cells = runner.run(progress)
        header = {
            "eval_dir": str(self.eval_dir),
            "task": self.task,
            "epochs": self.base["run"]["epochs"],
            "seeds": self.seeds,
            "workers": self.workers,
            "cells": len(cells),
            "cells_run": runner.trained,
            "wall_time_s": round(time.perf_counter() - started, 3),
        }
        document = summarize(
            cells,
            controllers=[c.label for c in self.controllers],
            baseline=self.baseline,
            reference=self.reference,
            header=header,
        )
        text = json.dumps(document, indent=1, allow_nan=False) + "\n"
        write_text_atomic(self.eval_dir / EVAL_NAME, text)
        write_text_atomic(self.eval_dir / MARKDOWN_NAME, render_markdown(document))
        return document


def default_name(task: str, base: dict[str, Any]) -> str:
    """``<task>-<digest of the base configuration>``."""
    short = task.split(":")[-1]
    return f"{short}-{fingerprint(base)[:8]}"
