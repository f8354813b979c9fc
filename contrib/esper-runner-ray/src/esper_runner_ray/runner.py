"""``esper.runners.ray``: every environment in a Ray actor; the controller stays in the driver.

Design (docs/ray.md has the reasoning):

* One actor per buffer row (`esper_runner_ray.remote.EnvActor`), kept for the whole run; each
  update it builds a fresh environment (host training run + governor) for its row's seed.
* The driver runs the shared `esper.engine.lockstep.LockstepLoop` over `RemoteEnvironment`
  proxies. The loop's ``advance`` collects every actor's observation of the epoch (all actors
  train at once); the policy decides for all environments in one batched call, as in the
  vectorized runner; ``execute`` sends each action down. Policy weights never move: per
  epoch and environment, signals travel up and one action travels down.
* Pipelining: with each action the driver also queues the next epoch's ``observe`` on the
  actor, so an actor starts training its next epoch as soon as it has acted, while the driver
  is still scoring rewards. One round trip per epoch per environment.
* Faults: an actor that dies mid-episode (``RayActorError``) is reported to the loop as lost.
  The loop truncates its episode after its last rewarded step (never a true terminal) and the
  update goes on; the runner emits ``runner.actor_lost`` and Ray restarts the actor
  (``runner.max_restarts``) in time for the next update. Exceptions raised *inside* the
  environment are bugs and propagate, as in the other runners; a NaN loss is the
  environment's governor's business (a rollback, a true terminal), not the cluster's.

Same seed, same policy: decisions come from the driver's random stream in the same batched
calls, and each environment draws from streams of its own, so the ray runner gives the
vectorized runner's policy bit for bit when the actors use as many torch threads as the
vectorized run did (``runner.torch_threads``; CPU reductions round differently with other
thread counts).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import ray
import structlog
from esper.plugin import (
    Action,
    EnvironmentFactory,
    EpisodeResult,
    EpochResult,
    EsperError,
    Event,
    LockstepLoop,
    Observed,
    RolloutJob,
    Runner,
    Signals,
    Stage,
)
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError

from esper_runner_ray.config import RayRunnerConfig
from esper_runner_ray.events import ActorLost
from esper_runner_ray.remote import ActorSpec, EnvActor, EnvState, PluginSet, Reply

log = structlog.get_logger(__name__)

#: Ray accepts fractional resources down to 1/10,000 of a unit.
_RESOURCE_QUANTUM = 10_000
#: Seconds to wait for a dead actor's queued call to fail before forgetting it.
_DISCARD_TIMEOUT_S = 10.0


class ClusterError(EsperError):
    """The Ray cluster could not place, start or keep the environment actors."""

    exit_code = 1


def machine_cpus() -> int:
    """CPUs this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def connect(config: RayRunnerConfig) -> bool:
    """Connect to Ray: a local instance unless ``config.address`` names a cluster.

    A local instance binds loopback addresses only, has no dashboard, reports no usage
    statistics and keeps its session files in ``config.temp_dir``. Returns whether this call
    started Ray (False when this process was already connected).
    """
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if config.address not in ("", "local"):
        ray.init(address=config.address, logging_level=logging.WARNING)
        return True
    # Ray binds its servers to loopback only when the node's address is 127.0.0.1, which it
    # chooses itself only where it assumes a single machine (this flag). Started processes
    # inherit the variable; this process reads the constant.
    from ray._private import ray_constants

    flag = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
    saved_env, saved_const = os.environ.get(flag), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[flag] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=config.num_cpus or machine_cpus(),
            include_dashboard=False,
            logging_level=logging.WARNING,
            _temp_dir=config.temp_dir or str(Path(tempfile.gettempdir()) / "esper-ray"),
        )
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_const
        if saved_env is None:
            os.environ.pop(flag, None)
        else:
            os.environ[flag] = saved_env
    node = ray.util.get_node_ip_address()
    if node not in ("127.0.0.1", "::1", "localhost"):
        log.warning("the local Ray instance is not bound to loopback", node=node)
    return True


def _quantize(amount: float) -> float:
    """Round a resource request down to what Ray can express (at least one quantum)."""
    return max(math.floor(amount * _RESOURCE_QUANTUM), 1) / _RESOURCE_QUANTUM


@attrs.frozen(kw_only=True)
class Placement:
    """What each environment actor asks of the cluster, and the device it trains on."""

    cpus: float
    gpus: float
    device: str


def placement(
    config: RayRunnerConfig, *, envs: int, run_device: str, resources: Mapping[str, float]
) -> Placement:
    """Resources per actor from the cluster's totals (``ray.cluster_resources()``).

    CPUs: ``runner.cpus_per_env``, else min(1, CPUs / envs), so every actor of an update is
    placed at once. GPUs (when the cluster has any, run.device is not 'cpu' and
    ``runner.envs_per_gpu`` is not 0): 1 / envs_per_gpu of a GPU each, envs_per_gpu defaulting
    to ceil(envs / GPUs), which spreads the environments evenly over the GPUs.
    """
    cpu_total = float(resources.get("CPU", 0.0))
    gpu_total = float(resources.get("GPU", 0.0))
    cpus = config.cpus_per_env or _quantize(min(1.0, cpu_total / envs))
    wants_cuda = run_device.startswith("cuda")
    if wants_cuda and gpu_total <= 0:
        raise ClusterError(f"run.device = {run_device!r} but the Ray cluster has no GPUs")
    if wants_cuda and config.envs_per_gpu == 0:
        raise ClusterError(f"run.device = {run_device!r} but runner.envs_per_gpu = 0 (no GPUs)")
    use_gpu = run_device not in ("cpu", "mps") and gpu_total > 0 and config.envs_per_gpu != 0
    if not use_gpu:
        return Placement(cpus=cpus, gpus=0.0, device="cpu")
    per_gpu = config.envs_per_gpu or math.ceil(envs / gpu_total)
    return Placement(cpus=cpus, gpus=_quantize(1.0 / per_gpu), device="cuda")


# -- the driver's view of a remote environment -----------------------------------------------


@attrs.frozen
class _Seed:
    stage: Stage


@attrs.frozen
class _Record:
    state: _Seed | None


@attrs.frozen
class _Counts:
    total: int


@attrs.frozen
class _Compute:
    """What the loop reads of the remote environment's FLOP tally."""

    train: int


class _ModelMirror:
    """What the loop reads of the remote model (`esper.engine.lockstep.ModelView`)."""

    def __init__(self, state: EnvState) -> None:
        self.slot_ids = list(state.stages)
        self.records: dict[str, _Record] = {
            sid: _Record(None if stage is None else _Seed(stage))
            for sid, stage in state.stages.items()
        }
        self._total = state.params_total

    def parameter_counts(self) -> _Counts:
        return _Counts(self._total)


class RemoteEnvironment:
    """A driver-side proxy for the environment an actor holds (`LoopEnvironment`)."""

    def __init__(self, actor: Any, row: int, seed: int, reply: Reply, info: Mapping[str, Any]):
        self.actor = actor
        self.row = row
        self.seed = seed
        self.max_epochs: int = reply.value
        self.info = dict(info)
        self.pending: Observed | None = None
        self.lost = False
        self._peek: Signals | None = None
        #: The next epoch's observe, queued with the last action (pipelining).
        self._next: Any = None
        self.update(reply.state)

    def update(self, state: EnvState) -> None:
        self.epoch = state.epoch
        self.model = _ModelMirror(state)
        self.compute = _Compute(state.flops_train)

    def observe_ref(self) -> Any:
        ref, self._next = self._next, None
        return ref if ref is not None else self.actor.observe.remote()

    def dispatch(self, action: Action) -> Any:
        """Send the action and queue the next epoch's observe; returns the act's reference."""
        ref = self.actor.act.remote(action)
        if self.epoch < self.max_epochs:
            self._next = self.actor.observe.remote()
        return ref

    def discard(self) -> None:
        """Forget a queued call of a lost actor (it fails; fetching it keeps Ray's log quiet)."""
        ref, self._next = self._next, None
        if ref is not None:
            # The failure is already reported as the loss.
            with contextlib.suppress(Exception):
                ray.get(ref, timeout=_DISCARD_TIMEOUT_S)

    def set_peek(self, signals: Signals | None) -> None:
        self._peek = signals

    # Synchronous forms, for loops that step one environment at a time.

    def observe(self) -> Observed:
        reply: Reply = ray.get(self.observe_ref())
        self.update(reply.state)
        self.pending = reply.value
        return reply.value  # type: ignore[no-any-return]

    def act(self, action: Action) -> EpochResult:
        reply: Reply = ray.get(self.dispatch(action))
        self.update(reply.state)
        result, peek = reply.value
        self._peek = peek
        return result  # type: ignore[no-any-return]

    def peek_signals(self) -> Signals:
        if self._peek is None:
            raise EsperError(f"environment {self.row}: no final signals (episode not finished)")
        return self._peek


# -- the runner ---------------------------------------------------------------------------------


class RayRunner(Runner):
    """Plays each update's episodes in Ray actors, one environment per actor."""

    def __init__(self, config: RayRunnerConfig | None = None) -> None:
        self.config = config or RayRunnerConfig()
        self.actors: list[Any] = []
        self.infos: list[dict[str, Any]] = []
        self.placement: Placement | None = None
        #: Episodes lost to dead actors over the run.
        self.lost_episodes = 0
        self._spec_key: tuple[Any, int] | None = None
        self._started_ray = False
        self._emit: Any = None

    # -- cluster and actors -----------------------------------------------------------------

    def _ensure_actors(self, job: RolloutJob) -> None:
        factory = job.factory
        if not isinstance(factory, EnvironmentFactory):
            raise EsperError(
                "the ray runner rebuilds environments from the run's config, so it needs "
                "esper.recipes.train.EnvironmentFactory jobs (esper train)"
            )
        envs = len(job.seeds)
        # Actors outlive a run: a later run with an equal config (and environment count)
        # reuses them.
        key = (factory.config, envs)
        if self._spec_key == key and self.actors:
            return
        self.close_actors()
        self._started_ray = connect(self.config) or self._started_ray
        run = factory.config.run
        self.placement = placement(
            self.config, envs=envs, run_device=run.device, resources=ray.cluster_resources()
        )
        spec = ActorSpec(
            config=factory.config,
            plugins=PluginSet.of(factory.registries.manager),
            device=self.placement.device,
            data_dir=str(Path(run.data_dir).resolve()) if run.data_dir else None,
            torch_threads=self.config.torch_threads,
        )
        remote = ray.remote(EnvActor).options(
            num_cpus=self.placement.cpus,
            num_gpus=self.placement.gpus,
            max_restarts=self.config.max_restarts,
            max_task_retries=0,
            scheduling_strategy="SPREAD",
        )
        self.actors = [remote.remote(spec) for _ in range(envs)]
        try:
            self.infos = ray.get(
                [a.describe.remote() for a in self.actors], timeout=self.config.start_timeout_s
            )
        except GetTimeoutError:
            self.close_actors()
            raise ClusterError(self._unplaced(envs)) from None
        except RayActorError as exc:
            self.close_actors()
            raise ClusterError(f"an environment actor failed to start: {exc}") from None
        self._spec_key = key
        log.info(
            "ray environment actors started",
            envs=envs,
            cpus_per_env=self.placement.cpus,
            gpus_per_env=self.placement.gpus,
            device=self.placement.device,
            nodes=sorted({str(i.get("node", "")) for i in self.infos}),
        )

    def _unplaced(self, envs: int) -> str:
        p = self.placement or Placement(cpus=0.0, gpus=0.0, device="cpu")
        total = ray.cluster_resources()
        return (
            f"not all {envs} environment actors started within runner.start_timeout_s = "
            f"{self.config.start_timeout_s:g} s: each asks for {p.cpus:g} CPU and {p.gpus:g} GPU; "
            f"the cluster has {total.get('CPU', 0):g} CPU and {total.get('GPU', 0):g} GPU "
            "(lower runner.cpus_per_env, raise runner.envs_per_gpu, or add nodes)"
        )

    def close_actors(self) -> None:
        for actor in self.actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(actor, no_restart=True)
        self.actors, self.infos, self._spec_key = [], [], None

    def close(self) -> None:
        """Stop the actors, and the local Ray instance if this runner started it."""
        self.close_actors()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    # -- one update ---------------------------------------------------------------------------

    def _start_episodes(self, seeds: Sequence[int]) -> list[RemoteEnvironment]:
        """A fresh environment in every actor, waiting out actors Ray is restarting."""
        deadline = time.monotonic() + self.config.start_timeout_s
        refs = {row: self.actors[row].start.remote(row, seed) for row, seed in enumerate(seeds)}
        envs: dict[int, RemoteEnvironment] = {}
        while refs:
            row, ref = next(iter(refs.items()))
            try:
                reply: Reply = ray.get(ref, timeout=max(deadline - time.monotonic(), 0.0))
            except ActorUnavailableError:  # restarting after a loss: ask again shortly
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"the environment actor of row {row} did not come back within "
                        f"runner.start_timeout_s = {self.config.start_timeout_s:g} s"
                    ) from None
                time.sleep(0.2)
                refs[row] = self.actors[row].start.remote(row, seeds[row])
                continue
            except ActorDiedError as exc:
                raise ClusterError(
                    f"the environment actor of row {row} is dead for good (more than "
                    f"runner.max_restarts = {self.config.max_restarts} restarts): "
                    f"{_first_line(exc)}"
                ) from None
            except GetTimeoutError:
                raise ClusterError(
                    f"the environment actor of row {row} did not start an episode within "
                    f"runner.start_timeout_s = {self.config.start_timeout_s:g} s"
                ) from None
            del refs[row]
            envs[row] = RemoteEnvironment(self.actors[row], row, seeds[row], reply, self.infos[row])
            self._forward(reply.events)
        return [envs[row] for row in range(len(seeds))]

    def _forward(self, events: Sequence[Event]) -> None:
        if self._emit is not None:
            for event in events:
                self._emit(event)

    def _lose(self, env: RemoteEnvironment, phase: str, exc: Exception) -> None:
        env.lost = True
        env.discard()
        self.lost_episodes += 1
        epoch = env.epoch + 1 if phase == "observe" else env.epoch
        error = _first_line(exc)
        log.warning(
            "environment actor lost; its episode is truncated",
            env=env.row,
            epoch=epoch,
            error=error,
        )
        if self._emit is not None:
            self._emit(
                ActorLost(
                    env_id=env.row,
                    epoch=epoch,
                    seed=env.seed,
                    phase=phase,
                    error=error,
                    lost_episodes=self.lost_episodes,
                    actor_id=str(env.info.get("actor_id", "")),
                    node=str(env.info.get("node", "")),
                )
            )

    def _advance(self, envs: Sequence[RemoteEnvironment]) -> list[int]:
        refs = [env.observe_ref() for env in envs]  # every actor trains at once
        lost = []
        for j, (env, ref) in enumerate(zip(envs, refs, strict=True)):
            try:
                reply: Reply = ray.get(ref)
            except RayActorError as exc:
                self._lose(env, "observe", exc)
                lost.append(j)
                continue
            env.update(reply.state)
            env.pending = reply.value
            self._forward(reply.events)
        return lost

    def _execute(
        self, envs: Sequence[RemoteEnvironment], actions: Sequence[Action]
    ) -> Iterator[EpochResult | None]:
        # Every action goes out (with the next observe queued behind it) before any result is
        # awaited; the results are then handed to the loop one environment at a time, each
        # after its events, in the order an in-process loop would produce them.
        refs = [env.dispatch(a) for env, a in zip(envs, actions, strict=True)]

        def results() -> Iterator[EpochResult | None]:
            for env, ref in zip(envs, refs, strict=True):
                try:
                    reply: Reply = ray.get(ref)
                except RayActorError as exc:
                    self._lose(env, "act", exc)
                    yield None
                    continue
                env.update(reply.state)
                result, peek = reply.value
                env.set_peek(peek)
                self._forward(reply.events)
                yield result

        return results()

    def collect(self, job: RolloutJob) -> list[EpisodeResult]:
        self._ensure_actors(job)
        self._emit = job.emit
        envs = self._start_episodes(job.seeds)
        loop: LockstepLoop[RemoteEnvironment] = LockstepLoop(job, self._advance, self._execute)
        results = loop.run(envs, list(range(len(envs))))
        if results and all(r.lost for r in results):
            raise ClusterError(
                f"every environment actor of this update was lost ({len(results)}); "
                "nothing to learn from"
            )
        return results


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
