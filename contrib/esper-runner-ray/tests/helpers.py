"""Helpers for the tests: small training configs, a training run through the API, its outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from esper.config import resolve
from esper.recipes.train import TrainingRun
from esper.registry import Registries
from esper.rundir.session import RunSession

#: Tiny episodes: a handful of batches of the embedded image task.
SMALL = [
    "task.train_size=256",
    "task.val_size=128",
    "run.batches_per_epoch=2",
    "policy.hidden_dim=16",
    "policy.feature_dim=16",
    "policy.validate=false",
    "policy.name='lstm'",
    "agent.name='ppo'",
    "reward.name='contribution'",
]


def config_for(registries: Registries, out: Path, runner: str, *extra: str) -> Any:
    return resolve(
        registries,
        overrides=[
            *SMALL,
            f"run.out={json.dumps(str(out))}",
            f"runner.name='{runner}'",
            *extra,
        ],
    )


def train(
    registries: Registries,
    config: Any,
    *,
    on_epoch: Any = None,
    on_update: Any = None,
) -> TrainingRun:
    """One `esper train` through the API; the ray runner's actors are stopped afterwards."""
    session = RunSession(registries.manager, config, command="train")
    with session:
        run = TrainingRun.build(config, registries, session)
        try:
            run.run(on_epoch=on_epoch, on_update=on_update)
        finally:
            close = getattr(run.runner, "close_actors", None)
            if close is not None:
                close()
    return run


def weights(run: TrainingRun) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in run.policy.network.state_dict().items()}


def events_of(run: TrainingRun) -> list[dict[str, Any]]:
    lines = (run.session.run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]
