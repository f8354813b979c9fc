"""What lives in an environment actor: one host-training environment at a time.

An actor is built from plain, picklable data (`ActorSpec`: the run's config, the names of the
plugins the driver loaded, a device and a thread count) and rebuilds everything else itself:
the plugin manager, the task and its data, and an `esper.recipes.train.EnvironmentFactory`
whose environments report their events into the actor's outbox. No driver closure, policy
weight or tensor of the driver's is ever pickled.

Each call returns a `Reply`: its value (an ``Observed``, an ``EpochResult``), the environment's
state as the driver's loop reads it (`EnvState`), and the telemetry events the call produced,
which the driver emits in order.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import attrs
import torch
from esper.plugin import (
    Action,
    Environment,
    EnvironmentFactory,
    EpochResult,
    EsperConfig,
    EsperError,
    EsperPluginManager,
    Event,
    Registries,
    Signals,
    Stage,
    configure_logging,
    resolve_device,
)


@attrs.frozen(kw_only=True)
class PluginSet:
    """How to load, in another process, the plugins a driver's manager has loaded."""

    #: Plugins blocked with ``no:NAME``.
    blocked: tuple[str, ...] = ()
    #: Installed (entry-point) plugins beyond the built-in ones, by name.
    installed: tuple[str, ...] = ()
    #: Plugins added in-process or by module path: (name, importable module).
    modules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, manager: EsperPluginManager) -> PluginSet:
        blocked, installed, modules = [], [], []
        for info in manager.infos.values():
            if info.status == "blocked":
                blocked.append(info.name)
            elif info.status == "loaded" and not info.builtin:
                if info.distribution:
                    installed.append(info.name)
                else:
                    modules.append((info.name, info.module))
        return cls(blocked=tuple(blocked), installed=tuple(installed), modules=tuple(modules))

    def load(self) -> EsperPluginManager:
        manager = EsperPluginManager()
        manager.load(
            [f"no:{name}" for name in self.blocked] + list(self.installed),
            autoload=False,
            strict=True,
        )
        for name, module in self.modules:
            if manager.get_plugin(name) is not None:
                continue
            try:
                plugin = importlib.import_module(module)
            except ImportError as exc:
                raise EsperError(
                    f"plugin {name!r} was registered in the driver from {module!r}, which an "
                    f"environment actor cannot import ({exc}); install it as a distribution"
                ) from None
            manager.add_plugin(plugin, name)
        return manager


@attrs.frozen(kw_only=True)
class ActorSpec:
    """Everything an environment actor is built from (plain, picklable data)."""

    config: EsperConfig
    plugins: PluginSet
    #: ``cpu``, or ``cuda`` for an actor that Ray gave (a share of) a GPU: it sees that GPU as
    #: device 0.
    device: str
    #: The task's data directory, made absolute by the driver (None: the task's default).
    data_dir: str | None
    torch_threads: int = 1


@attrs.frozen(kw_only=True)
class EnvState:
    """The environment as the driver's loop reads it after a call (`LoopEnvironment`)."""

    epoch: int
    #: Each enabled slot's seed stage (None: the slot is empty), in action-index order.
    stages: dict[str, Stage | None]
    params_total: int
    #: Training FLOPs the environment has spent (`esper.engine.compute`).
    flops_train: int = 0


@attrs.frozen(kw_only=True)
class Reply:
    value: Any
    state: EnvState
    events: list[Event]


class EnvActor:
    """Owns one environment (one host training run and its governor) per episode.

    Wrapped with ``ray.remote`` by the runner; plain Python otherwise, so tests and the
    benchmark can drive it in-process.
    """

    def __init__(self, spec: ActorSpec) -> None:
        torch.set_num_threads(spec.torch_threads)
        # Warnings from the environment reach the driver's terminal through Ray's log relay.
        configure_logging(verbosity=0)
        self.spec = spec
        self.outbox: list[Event] = []
        # Environments need a controller object, though here they never decide: the
        # driver's policy does.
        self.factory = EnvironmentFactory.from_config(
            spec.config,
            Registries(spec.plugins.load()),
            device=resolve_device(spec.device),
            data_dir=Path(spec.data_dir) if spec.data_dir else None,
            emit=self.outbox.append,
        )
        self.env: Environment | None = None

    def describe(self) -> dict[str, Any]:
        """Where this actor runs (also the runner's readiness check)."""
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "device": self.spec.device,
            "torch_threads": torch.get_num_threads(),
        }
        try:
            import ray

            ctx = ray.get_runtime_context()
            info["actor_id"] = ctx.get_actor_id() or ""
            info["node"] = ray.util.get_node_ip_address()
            info["gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
        except Exception:  # outside Ray (in-process use): no context to report
            info.update(actor_id="", node="", gpu_ids=[])
        return info

    def _reply(self, value: Any) -> Reply:
        env = self._env()
        events, self.outbox[:] = list(self.outbox), []
        state = EnvState(
            epoch=env.epoch,
            stages={
                sid: (r.state.stage if r.state is not None else None)
                for sid, r in env.model.records.items()
            },
            params_total=env.model.parameter_counts().total,
            flops_train=env.compute.train,
        )
        return Reply(value=value, state=state, events=events)

    def _env(self) -> Environment:
        if self.env is None:
            raise EsperError("this environment actor has no episode: call start() first")
        return self.env

    def start(self, row: int, seed: int) -> Reply:
        """A fresh environment for buffer row ``row``; the value is ``max_epochs``."""
        self.env = None  # free the last episode's host before building the next
        self.outbox.clear()
        self.env = self.factory(row, seed)
        return self._reply(self.env.max_epochs)

    def observe(self) -> Reply:
        """The first half of the next epoch: train, evaluate, let the governor judge."""
        return self._reply(self._env().observe())

    def act(self, action: Action) -> Reply:
        """The second half; at the episode's last epoch also the signals to bootstrap from."""
        env = self._env()
        result: EpochResult = env.act(action)
        peek: Signals | None = env.peek_signals() if env.epoch >= env.max_epochs else None
        return self._reply((result, peek))


__all__ = ["ActorSpec", "EnvActor", "EnvState", "PluginSet", "Reply"]
