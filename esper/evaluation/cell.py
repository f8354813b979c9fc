"""One cell of an evaluation: one controller trained on one seed, in this process.

A cell builds its environment from plain configuration data with the same recipe as
``esper run`` (`esper.recipes.factory.EnvironmentFactory`), trains it for ``run.epochs`` (or
until ``run.budget_flops`` is spent), and returns plain data: final and best metrics, the
metric and cumulative training FLOPs of every epoch, parameters, FLOPs, seeds by outcome, the
final architecture and the wall time. It writes no run directory and emits no events.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import attrs

from esper.lifecycle import Stage
from esper.lifecycle.alpha import AlphaAlgorithm
from esper.recipes.factory import EnvironmentFactory, resolve_device
from esper.recipes.grow import arm_summary
from esper.registry import Registries

#: Seeds in these stages shape the final model's output (a TRAINING seed does not).
_IN_THE_MODEL = (Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED)


@attrs.frozen(kw_only=True)
class CellTask:
    """Everything a worker needs to run one cell (plain, picklable data)."""

    label: str
    seed: int
    fingerprint: str
    raw: dict[str, Any]
    #: For larger-static: the (slot, blueprint, algorithm) seeds to install before training.
    architecture: tuple[tuple[str, str, int], ...] = ()


def _metrics(kind: str, history: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Final and best-so-far validation metrics."""
    last = history[-1]
    final: dict[str, Any] = {"val_accuracy": last["val_accuracy"], "val_loss": last["val_loss"]}
    finite_losses = [h["val_loss"] for h in history if math.isfinite(h["val_loss"])]
    best: dict[str, Any] = {
        "val_accuracy": max(h["val_accuracy"] for h in history),
        "val_loss": min(finite_losses, default=math.nan),
    }
    if kind == "language_model":
        final["val_perplexity"] = math.exp(min(last["val_loss"], 50.0))
        best["val_perplexity"] = math.exp(min(best["val_loss"], 50.0))
    return final, best


def run_cell(task: CellTask, registries: Registries) -> dict[str, Any]:
    """Train the cell's environment to the end; its result record."""
    from esper.config.loading import structure

    started = time.perf_counter()
    config = structure(task.raw, registries, source=f"{task.label}, seed {task.seed}")
    factory = EnvironmentFactory.from_config(
        config,
        registries,
        device=resolve_device(config.run.device),
        data_dir=Path(config.run.data_dir) if config.run.data_dir else None,
    )
    env = factory.build(policy=factory.policy, seed=config.run.seed, arm=task.label)
    for slot, blueprint, algorithm in task.architecture:
        env.model.install(slot, blueprint, algorithm=AlphaAlgorithm(algorithm))
    curve: list[dict[str, float]] = []
    while not env.finished:
        result = env.step()
        curve.append(
            {
                "epoch": result.epoch,
                "val_accuracy": result.val_accuracy,
                "val_loss": result.val_loss,
                "flops_train": env.compute.train,
            }
        )
    kind = factory.task.info.kind
    summary = arm_summary(env, kind)
    final, best = _metrics(kind, env.history)
    architecture = [
        [slot, record.state.blueprint_id, int(record.algorithm)]
        for slot, record in env.model.records.items()
        if record.state is not None and record.state.stage in _IN_THE_MODEL
    ]
    return {
        "controller": task.label,
        "seed": task.seed,
        "fingerprint": task.fingerprint,
        "policy": config.components["policy"].id,
        "task_kind": kind,
        "epochs": env.epoch,
        "final": final,
        "best": best,
        "params": summary["params"]["total"],
        "growth_ratio": summary["growth_ratio"],
        "flops": summary["flops"],
        "seeds": summary["seeds"],
        "rollbacks": summary["rollbacks"],
        "architecture": architecture,
        "curve": curve,
        "wall_time_s": round(time.perf_counter() - started, 3),
    }
