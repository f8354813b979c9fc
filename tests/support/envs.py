"""One builder for the `Environment` a test drives by hand (CPU, a tiny task, no telemetry).

Every argument a test does not give keeps the engine's default; the task defaults to
`TinyImageTask` and the policy to the static baseline, so a test names only what it is about.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from esper.contracts.governor import Governor
from esper.contracts.policy import Policy, StaticPolicy
from esper.contracts.task import Task, TaskInfo
from esper.engine.environment import Environment
from esper.lifecycle.gates import GateConfig, QualityGates
from esper.registry import Registries

from support.tiny import TinyImageTask


def tiny_env(
    registries: Registries,
    *,
    task: Task | None = None,
    policy: Policy | None = None,
    governor: Callable[[TaskInfo], Governor] | None = None,
    seed: int = 0,
    max_epochs: int = 20,
    min_training_epochs: int | None = None,
    **options: Any,
) -> Environment:
    """An environment on the CPU; ``governor`` is built from the task's info, and
    ``min_training_epochs`` (when given) replaces the quality gates' default so that seeds can
    move on within a few epochs."""
    task = task if task is not None else TinyImageTask()
    env = Environment(
        task=task,
        registries=registries,
        policy=policy if policy is not None else StaticPolicy(),
        governor=None if governor is None else governor(task.info),
        device=torch.device("cpu"),
        seed=seed,
        max_epochs=max_epochs,
        **options,
    )
    if min_training_epochs is not None:
        env.model.gates = QualityGates(GateConfig(min_training_epochs=min_training_epochs))
    return env
