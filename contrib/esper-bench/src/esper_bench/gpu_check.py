"""The GPU check: one prepared script that proves esper's CUDA path on a real GPU.

Run it on a CUDA machine::

    python -m esper_bench.gpu_check --out gpu-results

Sections (each writes its figures into ``gpu_check.json`` as soon as it finishes, so a run
cut short keeps what it measured):

* ``runner_equivalence`` — the vectorized runner (one CUDA stream per environment,
  interleaved batch by batch) against the sequential runner (no streams) on the same seeds
  with a deterministic controller and deterministic cuDNN: every environment's per-epoch
  accuracy, loss and action must agree;
* ``runner_throughput`` — one update's episodes, vectorized vs sequential, at 4 and 8
  environments on one GPU;
* ``train_end_to_end`` — two ``esper train`` updates with the environments, the controller,
  the rollout buffer and PPO all on the GPU;
* ``bf16`` — the same training epochs in bf16 autocast and in fp32: time ratio and finite loss;
* ``flex_attention`` — a FlexAttention seed trains inside the transformer host on the GPU;
* ``data_path`` — host-to-device copies in a profiled epoch and evaluation: the data lives on
  the device and augmentation runs there, so copies must not grow with the batches;
* ``compile`` — training epochs with a TRAINING seed, eager vs ``--compile`` (inductor, and
  inductor with CUDA graphs via ``reduce-overhead``): first-epoch (compile) and steady times;
* ``grow_cifar_scale`` — ``esper run``'s two arms (static vs heuristic growth) on the
  embedded image task at CIFAR-10 scale (50,000 training and 10,000 validation images).

``--dry-run`` runs every section on the CPU at toy sizes (esper-bench's tests do this), so the
script cannot rot between GPU sessions. It drives esper's internals directly (runners, recipes,
run sessions), as a measuring tool may and a plugin must not.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from esper.config import resolve
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.rundir.atomic import write_text_atomic

from esper_bench.timing import compare, ratio


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _training_run(registries: Registries, out: str, overrides: list[str]) -> Any:
    from esper.recipes.train import TrainingRun
    from esper.rundir.session import RunSession

    config = resolve(
        registries,
        overrides=[
            "policy.name='lstm'",
            "agent.name='ppo'",
            "reward.name='contribution'",
            f"run.out={json.dumps(out)}",
            *overrides,
        ],
    )
    return TrainingRun.build(
        config, registries, RunSession(registries.manager, config, command="train")
    )


def _collect(run: Any, seeds: list[int]) -> list[tuple[int, int, float, float, str]]:
    from esper.contracts.runner import RolloutJob

    trace: list[tuple[int, int, float, float, str]] = []
    run.buffer.reset()
    run.runner.collect(
        RolloutJob(
            factory=run.factory,
            seeds=seeds,
            policy=run.policy,
            rewards=run._rewards(),
            buffer=run.buffer,
            on_epoch=lambda env, r: trace.append(
                (env, r.epoch, r.val_accuracy, r.val_loss, r.action.op.name)
            ),
        )
    )
    return sorted(trace)


class Check:
    def __init__(self, out: Path, dry_run: bool) -> None:
        self.out = out
        self.dry = dry_run
        self.device = torch.device("cpu" if dry_run else "cuda")
        self.registries = Registries(build_manager(autoload=False))
        self.tmp = tempfile.mkdtemp(prefix="esper-gpu-check-")
        self.report: dict[str, Any] = {"machine": self._machine(), "sections": {}}

    def _machine(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(self.device),
            "dry_run": self.dry,
        }
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1))
            info["cuda"] = torch.version.cuda
        return info

    def size(self, gpu: int, cpu: int) -> int:
        return cpu if self.dry else gpu

    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.out / "gpu_check.json", json.dumps(self.report, indent=2) + "\n")

    def section(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        start = time.perf_counter()
        try:
            result = fn()
            result["ok"] = bool(result.get("ok", True))
        except Exception as exc:  # report and go on: the other sections still count
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        result["wall_s"] = round(time.perf_counter() - start, 2)
        self.report["sections"][name] = result
        self.save()
        print(f"[gpu-check] {name}: {json.dumps(result)}", flush=True)

    # -- sections ---------------------------------------------------------------------------

    def _task(self, train: int, val: int) -> list[str]:
        return [f"task.train_size={train}", f"task.val_size={val}"]

    def runner_equivalence(self) -> dict[str, Any]:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        envs = 4
        common = [
            *self._task(self.size(6000, 256), self.size(1200, 128)),
            f"run.device='{self.device}'",
            f"run.epochs={self.size(6, 3)}",
            f"train.envs={envs}",
            "policy.deterministic=true",
            "policy.validate=false",
        ]
        traces = {}
        for runner in ("vectorized", "sequential"):
            run = _training_run(self.registries, self.tmp, [*common, f"runner.name='{runner}'"])
            traces[runner] = _collect(run, run.seeds(0))
        a, b = traces["vectorized"], traces["sequential"]
        same_actions = [x[4] for x in a] == [x[4] for x in b]
        max_acc = max(abs(x[2] - y[2]) for x, y in zip(a, b, strict=True))
        max_loss = max(abs(x[3] - y[3]) for x, y in zip(a, b, strict=True))
        return {
            "ok": same_actions and max_acc == 0.0 and max_loss <= 1e-6,
            "env_epochs": len(a),
            "same_actions": same_actions,
            "max_abs_accuracy_diff_pp": max_acc,
            "max_abs_loss_diff": max_loss,
        }

    def runner_throughput(
        self, compile: tuple[str, ...] = (), envs_list: tuple[int, ...] = (4, 8)
    ) -> dict[str, Any]:
        # Fixed kernels: autotuning inside a timed episode would measure cuDNN, not the runner.
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = False
        variants = {
            "vectorized": ["runner.name='vectorized'"],
            "vectorized_in_turn": ["runner.name='vectorized'", "runner.interleave=false"],
            "sequential": ["runner.name='sequential'"],
        }
        out: dict[str, Any] = {}
        for envs in envs_list:
            runs = {
                name: _training_run(
                    self.registries,
                    self.tmp,
                    [
                        *self._task(self.size(6000, 256), self.size(1200, 128)),
                        f"run.device='{self.device}'",
                        f"run.epochs={self.size(4, 2)}",
                        f"train.envs={envs}",
                        "policy.validate=false",
                        *compile,
                        *extra,
                    ],
                )
                for name, extra in variants.items()
            }
            # The same episodes every time (same seeds), so every timed call does equal work.
            timings = compare(
                {
                    name: functools.partial(_collect, run, run.seeds(0))
                    for name, run in runs.items()
                },
                repeats=self.size(2, 1),
                warmup=1,
                sync=lambda: _sync(self.device),
            )
            out[f"envs_{envs}"] = {
                **{f"{name}_s": round(t.median_s, 3) for name, t in timings.items()},
                "speedup": round(ratio(timings, "sequential", "vectorized"), 3),
                "speedup_in_turn": round(ratio(timings, "sequential", "vectorized_in_turn"), 3),
            }
        return out

    def runner_throughput_compiled(self) -> dict[str, Any]:
        """`runner_throughput` at 4 envs with ``--compile`` in reduce-overhead (CUDA graphs) mode."""
        backend = "eager" if self.dry else "inductor"
        mode = "default" if self.dry else "reduce-overhead"
        return self.runner_throughput(
            compile=(
                "compile.enabled=true",
                f"compile.backend='{backend}'",
                f"compile.mode='{mode}'",
            ),
            envs_list=(4,),
        )

    def train_end_to_end(self) -> dict[str, Any]:
        """One `esper train` update with environments, controller, buffer and PPO on the device."""
        run = _training_run(
            self.registries,
            self.tmp,
            [
                *self._task(self.size(6000, 256), self.size(1200, 128)),
                f"run.device='{self.device}'",
                f"policy.device='{self.device}'",
                f"run.epochs={self.size(5, 2)}",
                "train.envs=4",
                "train.episodes=8",
                "runner.name='vectorized'",
            ],
        )
        with run.session:
            summary = run.run()
        metrics = summary["history"][-1]["metrics"]
        return {
            "ok": all(math.isfinite(v) for v in metrics.values()) and summary["updates"] == 2,
            "updates": summary["updates"],
            "buffer_device": str(run.buffer.rewards.device),
            "mean_accuracy": [round(h["mean_accuracy"], 2) for h in summary["history"]],
            "approx_kl": metrics.get("approx_kl"),
            "explained_variance": metrics.get("explained_variance"),
            "wall_time_s": summary["wall_time_s"],
        }

    def _environment(self, overrides: list[str], amp: str = "off", compile: Any = None) -> Any:
        from esper.engine.environment import Environment

        config = resolve(self.registries, overrides=overrides)
        comp = config.components["task"]
        task = self.registries["tasks"].get(comp.id).build(comp.options)
        return Environment(
            task=task,
            registries=self.registries,
            policy=self.registries["policies"].get("static").build(None),
            governor=None,
            device=self.device,
            seed=0,
            max_epochs=1000,
            amp=amp,
            compile=compile,
        )

    def bf16(self) -> dict[str, Any]:
        overrides = self._task(self.size(20000, 256), self.size(2000, 128))
        times = {}
        losses = {}
        for amp in ("off", "bf16"):
            env = self._environment(overrides, amp=amp)
            env.train_epoch()
            _sync(self.device)
            start = time.perf_counter()
            for _ in range(self.size(3, 1)):
                loss, _acc = env.train_epoch()
            _sync(self.device)
            times[amp] = time.perf_counter() - start
            losses[amp] = loss
            _val_loss, val_acc, _ = env.evaluate()
            losses[f"{amp}_val_accuracy"] = val_acc
        return {
            "ok": all(math.isfinite(v) for v in losses.values()),
            "fp32_s": round(times["off"], 3),
            "bf16_s": round(times["bf16"], 3),
            "bf16_speedup": round(times["off"] / times["bf16"], 3),
            "train_loss": losses,
        }

    def flex_attention(self) -> dict[str, Any]:
        from esper.contracts.actions import Action, Op

        env = self._environment(
            [
                "task.name='stories'",
                f"task.train_windows={self.size(4000, 64)}",
                f"task.val_windows={self.size(400, 16)}",
            ]
        )
        slot = env.model.slot_ids[0]
        env.observe()
        env.act(Action(op=Op.GERMINATE, slot=slot, blueprint="flex_attention"))
        env.observe()
        env.act(Action(op=Op.ADVANCE, slot=slot))  # GERMINATED -> TRAINING: the seed learns
        module = env.model.records[slot].module
        seed = getattr(module, "seed", module)
        uses_flex = None
        if hasattr(seed, "uses_flex"):
            probe = torch.zeros(1, 8, device=self.device)
            with torch.enable_grad():
                uses_flex = bool(seed.uses_flex(probe))
        start = time.perf_counter()
        results = [env.step() for _ in range(self.size(3, 2))]
        _sync(self.device)
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        return {
            "ok": all(math.isfinite(r.val_loss) for r in results) and bool(grads),
            "uses_flex_attention": uses_flex,
            "epochs": len(results),
            "val_loss": [round(r.val_loss, 4) for r in results],
            "seed_params_with_grad": len(grads),
            "train_s": round(time.perf_counter() - start, 2),
        }

    def data_path(self) -> dict[str, Any]:
        """Host-to-device copies during one training epoch and one evaluation (profiled)."""
        from torch.profiler import ProfilerActivity, profile

        env = self._environment(self._task(self.size(20000, 256), self.size(2000, 128)))
        env.train_epoch()  # warm-up: allocator, cuDNN plans
        env.evaluate()
        activities = [ProfilerActivity.CPU]
        if self.device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        with profile(activities=activities) as prof:
            env.train_epoch()
            env.evaluate()
            _sync(self.device)
        copies = [e for e in prof.events() if "HtoD" in e.name]
        batches = math.ceil(env.data.train_x.shape[0] / env.info.batch_size)
        return {
            # Copies that do not grow with the number of batches: the data stays on the device.
            "ok": len(copies) < batches and env.data.train_x.device.type == self.device.type,
            "htod_copies": len(copies),
            "htod_kinds": sorted({e.name for e in copies}),
            "train_batches": batches,
            "data_device": str(env.data.train_x.device),
            "augment_generator_device": str(env.aug_generator.device),
        }

    def compile(self) -> dict[str, Any]:
        """Training epochs eager vs ``--compile`` (inductor; CUDA graphs with reduce-overhead)."""
        from esper.config import CompileSection
        from esper.contracts.actions import Action, Op

        overrides = self._task(self.size(20000, 256), self.size(2000, 128))
        # The dry run checks the wiring only: inductor on a CPU takes minutes to compile.
        backend = "eager" if self.dry else "inductor"
        variants: dict[str, CompileSection | None] = {
            "eager": None,
            "compiled": CompileSection(enabled=True, backend=backend),
        }
        if not self.dry:
            variants["compiled_reduce_overhead"] = CompileSection(
                enabled=True, backend=backend, mode="reduce-overhead"
            )
        out: dict[str, Any] = {}
        epochs = self.size(3, 1)
        for name, settings in variants.items():
            torch._dynamo.reset()
            env = self._environment(overrides, compile=settings)
            slot = env.model.slot_ids[0]
            env.apply(Action(op=Op.GERMINATE, slot=slot, blueprint="conv_light"))
            env.apply(Action(op=Op.ADVANCE, slot=slot))  # a TRAINING seed in the graph
            try:
                start = time.perf_counter()
                env.train_epoch()  # compiles
                _sync(self.device)
                first = time.perf_counter() - start
                start = time.perf_counter()
                for _ in range(epochs):
                    loss, _acc = env.train_epoch()
                _sync(self.device)
                out[name] = {
                    "first_epoch_s": round(first, 3),
                    "epoch_s": round((time.perf_counter() - start) / epochs, 3),
                    "train_loss": round(loss, 4),
                }
            except Exception as exc:  # one mode failing must not hide the others
                out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        for name in variants:
            if name != "eager" and "epoch_s" in out[name] and "epoch_s" in out["eager"]:
                out[name]["speedup"] = round(out["eager"]["epoch_s"] / out[name]["epoch_s"], 3)
        out["ok"] = "epoch_s" in out["compiled"] and math.isfinite(out["compiled"]["train_loss"])
        return out

    def grow_cifar_scale(self) -> dict[str, Any]:
        from esper.recipes.grow import GrowthRun
        from esper.rundir.session import RunSession

        epochs = self.size(40, 2)
        config = resolve(
            self.registries,
            overrides=[
                *self._task(self.size(50000, 256), self.size(10000, 128)),
                f"run.device='{self.device}'",
                f"run.epochs={epochs}",
                f"run.out={json.dumps(self.tmp)}",
            ],
        )
        with RunSession(self.registries.manager, config, command="run") as session:
            summary = GrowthRun.build(config, self.registries, session).run()
        return {
            "epochs": epochs,
            "static_val_accuracy": summary["static"]["val_accuracy"],
            "grown_val_accuracy": summary["grown"]["val_accuracy"],
            "grown_seeds": summary["grown"]["seeds"],
            "growth_ratio": summary["grown"]["growth_ratio"],
            "wall_time_s": summary["wall_time_s"],
        }


SECTIONS = (
    "runner_equivalence",
    "runner_throughput",
    "runner_throughput_compiled",
    "train_end_to_end",
    "bf16",
    "flex_attention",
    "data_path",
    "compile",
    "grow_cifar_scale",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu-results"))
    parser.add_argument("--dry-run", action="store_true", help="Toy sizes on the CPU.")
    parser.add_argument("--sections", nargs="*", default=list(SECTIONS), choices=SECTIONS)
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu-check: no CUDA device (use --dry-run on a CPU)", file=sys.stderr)
        return 2
    check = Check(args.out, args.dry_run)
    check.save()
    for name in args.sections:
        check.section(name, getattr(check, name))
    failed = [n for n, r in check.report["sections"].items() if not r["ok"]]
    print(f"[gpu-check] done; failed sections: {failed or 'none'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
