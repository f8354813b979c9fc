"""Small ``esper train`` runs for tests: a tiny image task, a small LSTM, three epochs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from esper.config import resolve
from esper.recipes.train import CHECKPOINT_NAME, TrainingRun
from esper.registry import Registries
from esper.rundir.session import RunSession

SMALL = [
    "task.train_size=256",
    "task.val_size=128",
    "run.batches_per_epoch=2",
    "policy.hidden_dim=16",
    "policy.feature_dim=16",
    "policy.validate=false",
]


def small_config(registries: Registries, tmp_path: Path, *extra: str) -> Any:
    overrides = [
        *SMALL,
        f"run.out={json.dumps(str(tmp_path))}",
        "run.epochs=3",
        "train.episodes=4",
        "train.envs=2",
        "policy.name='lstm'",
        "agent.name='ppo'",
        "reward.name='contribution'",
        "runner.name='vectorized'",
        *extra,
    ]
    return resolve(registries, overrides=overrides)


def train(registries: Registries, config: Any, *, resume: Path | None = None) -> TrainingRun:
    session = RunSession(
        registries.manager,
        config,
        command="train",
        run_dir=resume,
        run_id=resume.name if resume else None,
    )
    with session:
        run = TrainingRun.build(config, registries, session)
        if resume is not None:
            run.restore(resume / CHECKPOINT_NAME)
        run.run()
    return run
