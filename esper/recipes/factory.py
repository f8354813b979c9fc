"""One recipe for environments: `esper run`, `esper train`, remote workers and benchmarks.

`EnvironmentFactory.from_config` builds a run's task, loads and checks its data, and builds the
configured controller, from plain config data alone (so a remote worker can do the same);
`EnvironmentFactory.build` then makes one environment with a policy, a seed and a name:
governor, gates, mixed precision, compile options and slots all come from the config. The
factory is also the runners' ``EnvFactory``: ``factory(index, seed)`` is environment ``index``
of a training update, with the shared trainable policy.

The environments share the task's data: the first puts it on the device in its host's memory
format, and the factory keeps that copy for the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import attrs
import torch

from esper.config import EsperConfig
from esper.contracts.governor import Governor
from esper.contracts.policy import Policy
from esper.contracts.task import Task, TaskData, load_task_data
from esper.engine.environment import Environment
from esper.errors import EsperError
from esper.growth.catalog import BlueprintCatalog
from esper.lifecycle import QualityGates
from esper.registry import Registries
from esper.telemetry import Event


def resolve_device(name: str) -> torch.device:
    """``run.device`` as a torch device (``auto``: CUDA when available); refused when absent."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise EsperError(f"run.device = {name!r} but CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise EsperError(
                f"run.device = {name!r} but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise EsperError("run.device = 'mps' but MPS is not available on this machine")
    return device


@attrs.define(kw_only=True)
class EnvironmentFactory:
    """Builds a run's environments; see the module docstring."""

    config: EsperConfig
    registries: Registries
    task: Task
    #: The task's data; on the device in the host's memory format once an environment exists.
    data: TaskData
    device: torch.device
    catalog: BlueprintCatalog
    #: The config's controller (``[policy]``), shared by every environment built with it.
    policy: Policy
    emit: Callable[[Event], None] | None = None

    @classmethod
    def from_config(
        cls,
        config: EsperConfig,
        registries: Registries,
        *,
        device: torch.device,
        data_dir: Path | None = None,
        emit: Callable[[Event], None] | None = None,
    ) -> EnvironmentFactory:
        """Build the config's task and controller and load (and check) the task's data."""
        comps = config.components
        task: Task = registries["tasks"].get(comps["task"].id).build(comps["task"].options)
        data = load_task_data(task, seed=config.run.seed, data_dir=data_dir, name=comps["task"].id)
        catalog = BlueprintCatalog(registries["blueprints"], task.info.topology)
        policy_comp = comps["policy"]
        policy: Policy = (
            registries["policies"].get(policy_comp.id).build(policy_comp.options, catalog=catalog)
        )
        return cls(
            config=config,
            registries=registries,
            task=task,
            data=data,
            device=device,
            catalog=catalog,
            policy=policy,
            emit=emit,
        )

    def epoch_batches(self) -> int:
        """Training batches in one of this factory's epochs (``run.batches_per_epoch`` caps it)."""
        full = math.ceil(self.data.train_x.shape[0] / self.task.info.batch_size)
        cap = self.config.run.batches_per_epoch
        return min(full, cap) if cap else full

    def cheaper(self, fraction: float) -> EnvironmentFactory:
        """A factory whose environments train ``fraction`` of each epoch's batches (at least
        one), sharing this one's task, data and controller. The cap is written into its config,
        so a runner that rebuilds environments from the config (remote workers) builds the
        same cheap ones."""
        batches = max(1, round(fraction * self.epoch_batches()))
        run = attrs.evolve(self.config.run, batches_per_epoch=batches)
        return attrs.evolve(self, config=attrs.evolve(self.config, run=run))

    def governor(self) -> Governor | None:
        """A fresh governor for one environment (None when the config names none)."""
        if "governor" not in self.config.components:
            return None
        gov = self.config.components["governor"]
        governor: Governor = (
            self.registries["governors"]
            .get(gov.id)
            .build(gov.options, task=self.task.info, emit=self.emit)
        )
        return governor

    def build(
        self,
        *,
        policy: Policy,
        seed: int,
        arm: str,
        env_id: int | None = None,
        use_stream: bool = False,
    ) -> Environment:
        """One environment named ``arm`` (``env_id`` stamps its events) with ``policy``."""
        run = self.config.run
        env = Environment(
            task=self.task,
            registries=self.registries,
            policy=policy,
            governor=self.governor(),
            device=self.device,
            seed=seed,
            max_epochs=run.epochs,
            slots=list(run.slots) or None,
            amp=run.amp,
            batches_per_epoch=run.batches_per_epoch or None,
            data=self.data,
            emit=self.emit,
            arm=arm,
            use_stream=use_stream,
            env_id=env_id,
            compile=self.config.compile,
            budget_flops=int(run.budget_flops) or None,
        )
        env.model.gates = QualityGates(self.config.lifecycle)
        self.data = env.data
        return env

    def __call__(self, index: int, seed: int, *, use_stream: bool = False) -> Environment:
        """Environment ``index`` of a training update (the runners' ``EnvFactory``)."""
        return self.build(
            policy=self.policy, seed=seed, arm=f"env{index}", env_id=index, use_stream=use_stream
        )
