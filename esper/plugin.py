"""The public API: everything a plugin imports comes from this module.

A plugin imports only ``esper.plugin`` (a test, ``tests/test_architecture.py``, and the
import-linter contracts in ``pyproject.toml`` hold the built-in plugins, the template and the
test fixtures to it). The names come in groups, each documented in docs/plugins.md:

* **registration** — `hookimpl`, the ``*Spec`` records, `RunContext`, `Registries`;
* **errors** — `EsperError` and the errors a plugin may raise or catch;
* **config** — `finite`, `is_finite_number` and the ``MAX_*`` limits for config classes;
* **telemetry** — `Event`, `register_event`, `event_to_dict`, `resolve_in_run_dir`; for
  metrics sinks, `ScalarTranslator` (events as numbered `Scalar` / `ScalarRow` records),
  `as_scalar` and `STAGE_VALUES`;
* **the lifecycle's vocabulary** — `Stage`, `is_legal_transition`, the alpha enums;
* **contracts** — tasks, policies, rewards, governors, agents, runners, actions, signals;
* **the growing model** — `SlottedHost`, `InjectionPoint`, `MorphogeneticModel`,
  `BlueprintCatalog`;
* **learning a controller** — the action space, observations, masked distributions, rollouts,
  normalisers;
* **running environments** (for runner plugins) — `Environment`, `LockstepLoop`,
  `EnvironmentFactory` and what a worker process needs to rebuild one.

Importing this module does not import torch: a plugin's hook module imports it on every
``esper`` command, ``--help`` included. The names that need torch are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from esper.bounds import MAX_EPOCHS, MAX_SEED, MAX_WIDTH, finite, is_finite_number
from esper.contracts.actions import Action, Op, Style
from esper.contracts.agent import Agent
from esper.contracts.governor import Governor, Verdict
from esper.contracts.policy import Policy, StaticPolicy
from esper.contracts.reward import RewardBreakdown, RewardContext, RewardFunction
from esper.contracts.runner import EpisodeResult, RolloutJob, Runner
from esper.contracts.signals import Signals, SlotView
from esper.engine.scalars import STAGE_VALUES, Scalar, ScalarRow, ScalarTranslator, as_scalar
from esper.errors import (
    ConfigError,
    DataError,
    EsperError,
    PluginError,
    RegistryError,
    StorageError,
    TaskDataError,
    TelemetryError,
)
from esper.lifecycle import Stage, is_legal_transition
from esper.lifecycle.alpha import AlphaAlgorithm, AlphaCurve
from esper.registry import Registries
from esper.registry.context import RunContext
from esper.registry.hookspecs import ENTRY_POINT_GROUP, hookimpl
from esper.registry.manager import EsperPluginManager
from esper.registry.specs import (
    AgentSpec,
    BlueprintSpec,
    CommandSpec,
    GovernorSpec,
    HostSpec,
    PolicySpec,
    PresetSpec,
    RewardSpec,
    RunnerSpec,
    SinkSpec,
    Spec,
    TaskSpec,
)
from esper.rundir.paths import resolve_in_run_dir
from esper.telemetry import Event, event_to_dict, register_event
from esper.telemetry.logs import configure as configure_logging

if TYPE_CHECKING:
    from esper.config import EsperConfig
    from esper.contracts.task import Task, TaskData, TaskInfo, check_task_data, load_task_data
    from esper.contracts.trainable import (
        Decision,
        Evaluation,
        Hidden,
        PolicyStep,
        TrainablePolicy,
    )
    from esper.engine.environment import Environment, EpochResult, Observed
    from esper.engine.lockstep import LockstepLoop, reward_context
    from esper.growth.catalog import BlueprintCatalog
    from esper.growth.flops import forward_flops
    from esper.growth.host import InjectionPoint, SlottedHost
    from esper.growth.model import MorphogeneticModel
    from esper.recipes.factory import EnvironmentFactory, resolve_device
    from esper.rl.action_space import HEADS, ActionMasks, ActionSpace
    from esper.rl.distributions import MaskedCategorical, check_heads
    from esper.rl.normalization import RewardNormalizer, RunningMeanStd, ValueNormalizer
    from esper.rl.observation import Observation, ObservationBuilder, feature_size
    from esper.rl.rollout import RolloutBuffer, normalize_advantages
    from esper.rundir.checkpoint import CheckpointError, load_weights_only

#: The names that import torch (or the config loader), by the module that defines them:
#: loaded on first use (PEP 562), so that this module stays cheap to import.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("Task", "TaskData", "TaskInfo", "check_task_data", "load_task_data"),
        "esper.contracts.task",
    ),
    **dict.fromkeys(
        ("Decision", "Evaluation", "Hidden", "PolicyStep", "TrainablePolicy"),
        "esper.contracts.trainable",
    ),
    **dict.fromkeys(("InjectionPoint", "SlottedHost"), "esper.growth.host"),
    "MorphogeneticModel": "esper.growth.model",
    "forward_flops": "esper.growth.flops",
    "BlueprintCatalog": "esper.growth.catalog",
    **dict.fromkeys(("HEADS", "ActionMasks", "ActionSpace"), "esper.rl.action_space"),
    **dict.fromkeys(("MaskedCategorical", "check_heads"), "esper.rl.distributions"),
    **dict.fromkeys(
        ("RewardNormalizer", "RunningMeanStd", "ValueNormalizer"), "esper.rl.normalization"
    ),
    **dict.fromkeys(("Observation", "ObservationBuilder", "feature_size"), "esper.rl.observation"),
    **dict.fromkeys(("RolloutBuffer", "normalize_advantages"), "esper.rl.rollout"),
    **dict.fromkeys(("Environment", "EpochResult", "Observed"), "esper.engine.environment"),
    **dict.fromkeys(("LockstepLoop", "reward_context"), "esper.engine.lockstep"),
    **dict.fromkeys(("EnvironmentFactory", "resolve_device"), "esper.recipes.factory"),
    **dict.fromkeys(("CheckpointError", "load_weights_only"), "esper.rundir.checkpoint"),
    "EsperConfig": "esper.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ENTRY_POINT_GROUP",
    "HEADS",
    "MAX_EPOCHS",
    "MAX_SEED",
    "MAX_WIDTH",
    "STAGE_VALUES",
    "Action",
    "ActionMasks",
    "ActionSpace",
    "Agent",
    "AgentSpec",
    "AlphaAlgorithm",
    "AlphaCurve",
    "BlueprintCatalog",
    "BlueprintSpec",
    "CheckpointError",
    "CommandSpec",
    "ConfigError",
    "DataError",
    "Decision",
    "Environment",
    "EnvironmentFactory",
    "EpisodeResult",
    "EpochResult",
    "EsperConfig",
    "EsperError",
    "EsperPluginManager",
    "Evaluation",
    "Event",
    "Governor",
    "GovernorSpec",
    "Hidden",
    "HostSpec",
    "InjectionPoint",
    "LockstepLoop",
    "MaskedCategorical",
    "MorphogeneticModel",
    "Observation",
    "ObservationBuilder",
    "Observed",
    "Op",
    "PluginError",
    "Policy",
    "PolicySpec",
    "PolicyStep",
    "PresetSpec",
    "Registries",
    "RegistryError",
    "RewardBreakdown",
    "RewardContext",
    "RewardFunction",
    "RewardNormalizer",
    "RewardSpec",
    "RolloutBuffer",
    "RolloutJob",
    "RunContext",
    "Runner",
    "RunnerSpec",
    "RunningMeanStd",
    "Scalar",
    "ScalarRow",
    "ScalarTranslator",
    "Signals",
    "SinkSpec",
    "SlotView",
    "SlottedHost",
    "Spec",
    "Stage",
    "StaticPolicy",
    "StorageError",
    "Style",
    "Task",
    "TaskData",
    "TaskDataError",
    "TaskInfo",
    "TaskSpec",
    "TelemetryError",
    "TrainablePolicy",
    "ValueNormalizer",
    "Verdict",
    "as_scalar",
    "check_heads",
    "check_task_data",
    "configure_logging",
    "event_to_dict",
    "feature_size",
    "finite",
    "forward_flops",
    "hookimpl",
    "is_finite_number",
    "is_legal_transition",
    "load_task_data",
    "load_weights_only",
    "normalize_advantages",
    "register_event",
    "resolve_device",
    "resolve_in_run_dir",
    "reward_context",
]
