"""Ray runner vs vectorized runner on this machine, and what a cluster would gain.

``python -m esper_bench.ray --out DIR`` (about 5 minutes on 2 quiet CPU cores; ``--quick`` for
a smoke run; needs the ray runner installed too, the ``ray`` extra) does, in one process:

1. the same update (same config, seeds, episodes) with the vectorized runner and with the ray
   runner on a local Ray instance, and with the vectorized runner at one torch thread (as
   each actor has), in alternating rounds so that other work on a shared machine slows all
   alike; it times each update and the PPO update within it (the rest is collecting the
   rollout). Round 0 (warm-up, the actors' start) is reported, not counted. The 1-thread
   vectorized run and the ray run must end with bit-identical weights;
2. the per-environment costs a cluster estimate needs: one environment epoch (observe + act)
   at one torch thread, the driver's batched decision for K environments, one reward, and a
   Ray round trip carrying an epoch's result (latency, and the driver's cost per call when
   calls are pipelined);
3. the estimated speed-up of the ray runner at 8, 64 and 512 environments, each actor on a
   core (or GPU share) of its own, against playing the same environments one after another
   in one process (what the vectorized runner does on a CPU). Per update of K episodes of T
   epochs::

       one process:  T * (K * t_env + d(K)) + U(K)
       ray:          T * (s * t_env + d(K) + rtt + 2 * K * c) + U(K)

   t_env: one environment epoch; s: straggler factor (slowest / mean environment epoch, the
   lock-step waits for the slowest); d(K): driver decision (batched policy call, measured at
   K) plus K rewards; rtt: one round trip (the next observe is queued behind each action, so
   latency is paid once per epoch); c: driver cost per remote call (two per environment and
   epoch); U(K): the PPO update, measured (at one thread) on the run's rollout and scaled to
   K * T steps (its cost is proportional to the rollout's size).

Writes ``DIR/ray_bench.json`` and prints a summary. Like the rest of esper_bench it measures
esper's internals (the training recipe, the lock-step loop, the run session) and the ray
runner's, so it imports internal modules that a plugin must not.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
import torch
from esper.config import resolve
from esper.contracts.actions import Action
from esper.engine.lockstep import reward_context
from esper.recipes.train import TrainingRun
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.rundir.session import RunSession
from esper_runner_ray.config import RayRunnerConfig
from esper_runner_ray.runner import RayRunner, connect, machine_cpus

CLUSTER_SIZES = (8, 64, 512)
#: The runs compared: the vectorized runner (the machine's torch threads), the vectorized runner
#: at one thread, and the ray runner (one thread per actor and in the driver).
ARMS = ("vectorized", "vectorized-1t", "ray")


class Echo:
    """An actor that returns what it is sent: a Ray round trip with a real payload."""

    def echo(self, value: Any) -> Any:
        return value


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _one_update(
    registries: Registries, overrides: list[str], runner: RayRunner | None = None
) -> dict[str, Any]:
    """One update of a fresh training run: its wall time, and the part the PPO update took
    (the rest is collecting the rollout). ``runner`` replaces the run's own ray runner, so one
    set of actors serves every round."""
    config = resolve(registries, overrides=overrides)
    session = RunSession(registries.manager, config, command="train")
    with session:
        run = TrainingRun.build(config, registries, session)
        if runner is not None:
            run.runner = runner
        learner: list[float] = []
        update = run.agent.update

        def timed(buffer: Any) -> Any:
            start = time.perf_counter()
            try:
                return update(buffer)
            finally:
                learner.append(time.perf_counter() - start)

        run.agent.update = timed  # type: ignore[method-assign]
        load = os.getloadavg()[0]
        run.run()
    wall = float(run.history[0]["wall_time_s"])
    return {
        "run": run,
        "load": load,
        "wall_s": wall,
        "learner_s": learner[0],
        "collect_s": wall - learner[0],
    }


def _median_time(fn: Callable[[], Any], reps: int) -> float:
    """Median seconds per call (the median shrugs off other work on a shared machine)."""
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _env_costs(run: TrainingRun, epochs: int) -> dict[str, Any]:
    """Environment epochs at one thread (every seed of update 0), decisions and rewards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    per_env: list[float] = []
    signals = None
    context = None
    try:
        for row, seed in enumerate(run.seeds(0)):
            env = run.factory(row, seed)
            start = time.perf_counter()
            for _ in range(epochs):
                observed = env.observe()
                signals = observed.signals
                result = env.act(Action())
                context = reward_context(
                    result, initial_accuracy=result.val_accuracy, initial_loss=result.val_loss
                )
            per_env.append((time.perf_counter() - start) / epochs)
            del env
        if signals is None or context is None:
            raise RuntimeError("no epoch was measured")
        # The driver's decisions at one thread as well: its ops are tiny, and two threads
        # that must meet at every op stall whenever other work holds the second core.
        policy = run.policy
        decide: dict[str, float] = {}
        with torch.inference_mode():
            for k in (1, run.config.train.envs, *CLUSTER_SIZES):
                batch = [signals] * k
                hidden = policy.initial_hidden(k)
                reps = 20 if k <= 64 else 5
                decide[str(k)] = _median_time(functools.partial(policy.act, batch, hidden), reps)
        reward = run._rewards()[0]
        reward_s = _median_time(lambda: reward(context), 200)
    finally:
        torch.set_num_threads(threads)
    return {
        "env_epoch_s": statistics.fmean(per_env),
        "env_epoch_s_per_seed": per_env,
        "straggler": max(per_env) / statistics.fmean(per_env),
        "decide_s": decide,
        "reward_s": reward_s,
        "payload": result,
    }


def _round_trips(payload: Any, calls: int) -> dict[str, float]:
    echo: Any = ray.remote(Echo).options(num_cpus=0).remote()
    ray.get(echo.echo.remote(payload))

    def one() -> Any:
        return ray.get(echo.echo.remote(payload))

    latency = _median_time(one, calls)
    # The driver's own cost per call: submitting, and fetching a result that is ready. (Timing
    # submit-to-result of pipelined calls would measure the one echo actor, not the driver.)
    start = time.perf_counter()
    refs = [echo.echo.remote(payload) for _ in range(calls)]
    submit = time.perf_counter() - start
    ray.wait(refs, num_returns=len(refs))
    start = time.perf_counter()
    ray.get(refs)
    fetch = time.perf_counter() - start
    ray.kill(echo)
    return {"rtt_s": latency, "per_call_s": (submit + fetch) / calls, "submit_s": submit / calls}


def estimate(per_env: dict[str, Any], *, steps_measured: int, horizon: int) -> dict[str, Any]:
    """Per-update times and speed-ups at `CLUSTER_SIZES` (the model in the module docstring).

    ``per_env`` holds the measured costs; the PPO update (``learner_s``, measured over a rollout
    of ``steps_measured`` environment steps) is scaled to K * horizon steps.
    """
    t_env, s = per_env["env_epoch_s"], per_env["straggler"]
    out: dict[str, Any] = {}
    for k in CLUSTER_SIZES:
        d = per_env["decide_s"][str(k)] + k * per_env["reward_s"]
        calls = 2 * k * per_env["per_call_s"]
        u = per_env["learner_s"] * k * horizon / steps_measured
        one_process = horizon * (k * t_env + d) + u
        cluster = horizon * (s * t_env + d + per_env["rtt_s"] + calls) + u
        out[str(k)] = {
            "one_process_s": one_process,
            "ray_s": cluster,
            "speedup": one_process / cluster,
            "driver_share": horizon * (d + calls) / cluster,
            "learner_share": u / cluster,
        }
    return out


def reestimate(path: Path) -> dict[str, Any]:
    """Recompute a saved report's estimate from its measurements (after a model change)."""
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    config = report["config"]
    report["estimate"] = estimate(
        report["per_env"],
        steps_measured=config["envs"] * config["epochs"],
        horizon=config["horizon_for_estimate"],
    )
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for ray_bench.json")
    parser.add_argument(
        "--reestimate", action="store_true", help="only recompute DIR/ray_bench.json's estimate"
    )
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per episode")
    parser.add_argument("--rounds", type=int, default=3, help="counted updates per runner")
    parser.add_argument("--horizon", type=int, default=40, help="episode length for the estimate")
    parser.add_argument("--quick", action="store_true", help="tiny task, for a smoke run")
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.reestimate:
        _print(reestimate(out / "ray_bench.json"))
        return 0
    out.mkdir(parents=True, exist_ok=True)

    registries = Registries(build_manager(["esper.runners.ray"], autoload=False, strict=True))
    base = [
        f"run.out={json.dumps(str(out / 'runs'))}",
        f"run.epochs={args.epochs}",
        f"train.envs={args.envs}",
        f"train.episodes={args.envs}",
        "telemetry.sinks=[]",
        # esper train's default components (the CLI fills them in; `resolve` does not).
        "policy.name='lstm'",
        "agent.name='ppo'",
        "reward.name='contribution'",
    ]
    if args.quick:
        base += ["task.train_size=256", "task.val_size=128", "run.batches_per_epoch=2"]
    # Rounds alternate the runners, one update each with the same seeds, so that other work
    # on a shared machine slows both alike; round 0 (torch warm-up, Ray's start, the actors'
    # start) is reported but not counted.
    connect_start = time.perf_counter()
    connect(RayRunnerConfig())
    ray_start_s = time.perf_counter() - connect_start
    shared = RayRunner(RayRunnerConfig())
    threads = torch.get_num_threads()
    rounds: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    for _ in range(args.rounds + 1):
        for arm in ARMS:
            # vectorized-1t: the vectorized runner with one torch thread, like each actor. The
            # ray run's driver (policy, PPO) also uses one: same threads everywhere, same bits.
            torch.set_num_threads(threads if arm == "vectorized" else 1)
            runner = arm.split("-")[0]
            rounds[arm].append(
                _one_update(
                    registries,
                    [*base, f"runner.name='{runner}'"],
                    runner=shared if runner == "ray" else None,
                )
            )
    torch.set_num_threads(threads)
    shared.close_actors()
    vectorized, ray_rounds = rounds["vectorized"], rounds["ray"]
    same = all(
        torch.equal(a, b)
        for a, b in zip(
            rounds["vectorized-1t"][0]["run"].policy.network.state_dict().values(),
            ray_rounds[0]["run"].policy.network.state_dict().values(),
            strict=True,
        )
    )
    costs = _env_costs(vectorized[0]["run"], args.epochs)
    rtt = _round_trips(costs.pop("payload"), 50 if args.quick else 200)
    # One thread, like the driver of the ray run: stable on a shared machine.
    learner_s = statistics.median(r["learner_s"] for r in rounds["vectorized-1t"][1:])
    env_epochs = args.envs * args.epochs

    def rate(rows: list[dict[str, Any]], key: str) -> float:
        return float(env_epochs / statistics.median(r[key] for r in rows[1:]))

    def table(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
        return [{k: v for k, v in r.items() if k != "run"} for r in rows]

    report: dict[str, Any] = {
        "machine": {
            "cpu": _cpu_name(),
            "cpus": machine_cpus(),
            "torch": torch.__version__,
            "ray": ray.__version__,
            "python": platform.python_version(),
        },
        "config": {
            "envs": args.envs,
            "epochs": args.epochs,
            "rounds": args.rounds,
            "quick": args.quick,
            "horizon_for_estimate": args.horizon,
        },
        "local": {
            "ray_start_s": ray_start_s,
            "driver_torch_threads": threads,
            "rounds": {arm: table(rows) for arm, rows in rounds.items()},
            "env_epochs_per_s": {arm: rate(rows, "wall_s") for arm, rows in rounds.items()},
            "collect_env_epochs_per_s": {
                arm: rate(rows, "collect_s") for arm, rows in rounds.items()
            },
            "ray_vs_vectorized": rate(ray_rounds, "wall_s") / rate(vectorized, "wall_s"),
            "ray_vs_vectorized_1t": rate(ray_rounds, "wall_s")
            / rate(rounds["vectorized-1t"], "wall_s"),
            "same_policy": same,
            "same_policy_note": "vectorized at 1 thread vs ray (1 thread per actor), same "
            "seeds: bit-identical weights expected",
        },
        "per_env": {**costs, **rtt, "learner_s": learner_s},
    }
    report["estimate"] = estimate(
        report["per_env"], steps_measured=env_epochs, horizon=args.horizon
    )
    (out / "ray_bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _print(report)
    ray.shutdown()
    return 0


def _print(report: dict[str, Any]) -> None:
    local, per_env, m = report["local"], report["per_env"], report["machine"]
    print(f"machine: {m['cpu']} ({m['cpus']} CPUs), torch {m['torch']}, ray {m['ray']}")
    rates = local["env_epochs_per_s"]
    print(
        f"local (env-epochs/s): vectorized {rates['vectorized']:.2f}, vectorized at 1 thread "
        f"{rates['vectorized-1t']:.2f}, ray {rates['ray']:.2f} ({local['ray_vs_vectorized']:.2f}x, "
        f"{local['ray_vs_vectorized_1t']:.2f}x); same policy: {local['same_policy']}"
    )
    print(
        f"per env: epoch {per_env['env_epoch_s']:.3f} s (straggler {per_env['straggler']:.2f}), "
        f"reward {per_env['reward_s'] * 1e6:.0f} us, round trip {per_env['rtt_s'] * 1e3:.2f} ms, "
        f"per call {per_env['per_call_s'] * 1e3:.2f} ms, PPO update {per_env['learner_s']:.2f} s"
    )
    for k, e in report["estimate"].items():
        print(
            f"K={k}: one process {e['one_process_s']:.0f} s/update, ray {e['ray_s']:.1f} s/update, "
            f"speed-up {e['speedup']:.1f}x (driver {e['driver_share']:.0%}, learner {e['learner_share']:.0%})"
        )


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    raise SystemExit(main())
