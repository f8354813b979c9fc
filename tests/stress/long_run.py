"""The long faulted run of ``nox -s stress``: runs that are hit by a fault, resumed, hit again.

``python tests/stress/long_run.py --out stress-results [--docs docs/reliability.md]``

Scenarios: ``esper run`` (NaN losses and loss-spike series injected at fixed epochs, which
the governor must roll back) and ``esper train``. Each scenario is first run once without
process faults (the reference), then again while faults of every kind hit it in turn:
SIGKILL at a random moment, SIGKILL in the middle of a checkpoint write, SIGINT, a full disk,
a crashing data path. After every fault the run directory is checked (every file an old or
new complete version), the bytes of finished work lost are counted (event lines and the
checkpoint as they were just before the fault, which must still be there or superseded by a
newer valid checkpoint), and the run is resumed. A finished run must equal its reference: the
same results and, bit for bit, the same weights. The figures are appended to
``<out>/figures.jsonl`` (the stress tests add theirs there) and, with ``--docs``, the totals
are written into the page's table.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

from support import stress_report  # noqa: E402
from support.rundir import bytes_lost, check_run_dir, snapshot  # noqa: E402
from support.tinyruns import (  # noqa: E402
    assert_same_results,
    assert_same_weights,
    finish,
    results,
    spawn,
)

KINDS = ["sigkill", "sigkill_mid_checkpoint_write", "sigint", "disk_full", "data_path_crash"]


def growth_args(seed: int, epochs: int) -> list[str]:
    return [
        "run", "--epochs", str(epochs), "--seed", str(seed), "--quiet",
        "--set", "task.train_size=640", "--set", "task.val_size=256",
        "--set", "run.checkpoint_every=3",
        "--set", "lifecycle.min_training_epochs=2",
        "--set", "policy.min_epoch=2", "--set", "policy.plateau_epochs=2",
    ]  # fmt: skip


def train_args(seed: int, updates: int) -> list[str]:
    return [
        "train", "--episodes", str(2 * updates), "--envs", "2", "--epochs", "4",
        "--seed", str(seed), "--quiet",
        "--set", "task.train_size=256", "--set", "task.val_size=128",
        "--set", "policy.hidden_dim=16", "--set", "policy.feature_dim=16",
    ]  # fmt: skip


class Scenario:
    """One run driven to the end through faults, and its fault-free reference."""

    def __init__(self, name: str, args: list[str], steps: int, out: Path, poison: dict[str, Any]):
        self.name, self.args, self.steps, self.out = name, args, steps, out
        self.poison = poison  # NaN / spike injections: part of the run itself, in every process
        self.counts: Counter[str] = Counter()
        self.step_event = "train.update" if args[0] == "train" else "engine.epoch"
        self.augment_calls_per_step = 0

    # -- helpers ---------------------------------------------------------------------------

    def run_dir(self, out: Path) -> Path | None:
        dirs = sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []
        return dirs[0] if dirs else None

    def steps_logged(self, run_dir: Path) -> int:
        count = 0
        for line in (run_dir / "events.jsonl").read_bytes().split(b"\n"):
            if self.step_event.encode() not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("type") == self.step_event and event.get("arm") in (None, "grown"):
                count += 1
        return count

    def sessions(self, run_dir: Path | None) -> int:
        if run_dir is None or not (run_dir / "events.jsonl").exists():
            return 0
        return (run_dir / "events.jsonl").read_bytes().count(b'"type":"run.started"')

    # -- the reference -----------------------------------------------------------------------

    def reference(self) -> Path:
        out = self.out / f"{self.name}-reference"
        started = time.perf_counter()
        code, _, err = finish(spawn([*self.args, "--out", str(out)], faults=self.poison or None))
        if code != 0:
            raise SystemExit(f"{self.name}: the reference run failed:\n{err}")
        self.counts["runs"] += 1
        run_dir = self.run_dir(out)
        assert run_dir is not None
        self.loop_s = time.perf_counter() - started
        return run_dir

    # -- the faulted run ---------------------------------------------------------------------

    def faulted(self, reference: Path, rng: random.Random, faults: int) -> None:
        attempt = 0
        out = self.out / f"{self.name}-faulted-{attempt}"
        run_dir: Path | None = None
        checkpoint_size = 250_000
        for index in range(faults):
            kind = KINDS[index % len(KINDS)]
            position = check_run_dir(run_dir).position if run_dir is not None else 0
            if run_dir is not None and position == 0:
                attempt += 1  # died before its first checkpoint: start the run again
                out, run_dir = self.out / f"{self.name}-faulted-{attempt}", None
            left = self.steps - position
            spec: dict[str, Any] = dict(self.poison)
            if kind == "sigkill_mid_checkpoint_write":
                spec["kill_in_checkpoint_write"] = rng.randint(1, 2)
            elif kind == "disk_full":
                spec["disk_full"] = rng.randint(checkpoint_size // 2, 2 * checkpoint_size)
            elif kind == "data_path_crash":
                spec["break_data_path"] = rng.randint(1, max(1, left * self.augment_calls_per_step))
            if run_dir is None:
                process = spawn([*self.args, "--out", str(out)], faults=spec or None)
            else:
                process = spawn(["resume", str(run_dir), "--quiet"], faults=spec or None)
            self.counts["runs"] += 1
            sessions = self.sessions(run_dir)
            before: dict[str, bytes] = {}
            while process.poll() is None:  # until this session's loop runs
                found = run_dir or self.run_dir(out)
                if self.sessions(found) > sessions:
                    run_dir = found
                    break
                time.sleep(0.01)
            if run_dir is None:
                run_dir = self.run_dir(out)
            assert run_dir is not None
            logged_at_start = self.steps_logged(run_dir)
            if kind == "sigkill":
                deadline = time.monotonic() + rng.uniform(0, self.loop_s * left / self.steps)
                while process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                before = snapshot(run_dir)
                process.send_signal(signal.SIGKILL)
            elif kind == "sigint":
                target = logged_at_start + rng.randint(0, max(0, left - 2))
                while process.poll() is None and self.steps_logged(run_dir) <= target:
                    time.sleep(0.01)
                before = snapshot(run_dir)
                process.send_signal(signal.SIGINT)
            else:
                while process.poll() is None:  # the fault comes from inside: keep watching
                    before = snapshot(run_dir)
                    time.sleep(0.05)
            code, _, err = finish(process)
            if "Traceback" in err:
                raise SystemExit(f"{self.name}: a traceback after {kind}:\n{err}")
            expected = {
                "sigkill": -signal.SIGKILL,
                "sigkill_mid_checkpoint_write": -signal.SIGKILL,
                "sigint": 130,
                "disk_full": 1,
                "data_path_crash": 1,
            }[kind]
            if code == 0:
                # Finished before the fault struck: count it as not injected.
                self.check_finished(run_dir, reference)
                attempt += 1
                out, run_dir = self.out / f"{self.name}-faulted-{attempt}", None
                continue
            if code != expected:
                raise SystemExit(
                    f"{self.name}: {kind} gave exit {code}, expected {expected}\n{err}"
                )
            state = check_run_dir(run_dir)  # raises if any file is torn
            if state.checkpoint is not None:
                checkpoint_size = (run_dir / state.checkpoint).stat().st_size
            lost = bytes_lost(before, run_dir)
            self.counts[f"injected_{kind}"] += 1
            self.counts["lost_bytes"] += lost
            done = self.steps_logged(run_dir) - logged_at_start
            self.counts["steps_redone"] += max(0, position + done - state.position)
            self.counts[f"pending_{kind}"] += 1  # survived once the run finishes equal
            print(f"  {self.name}: {kind:30s} exit {code:4d}, checkpoint at {state.position}, "
                  f"lost {lost} bytes", flush=True)  # fmt: skip
        # The last stretch runs to the end without a fault.
        if run_dir is None or check_run_dir(run_dir).position == 0:
            out = self.out / f"{self.name}-faulted-{attempt + 1}"
            args = [*self.args, "--out", str(out)]
        else:
            args = ["resume", str(run_dir), "--quiet"]
        code, _, err = finish(spawn(args, faults=self.poison or None))
        self.counts["runs"] += 1
        if code != 0:
            raise SystemExit(f"{self.name}: the final resume failed:\n{err}")
        run_dir = run_dir if args[0] == "resume" else self.run_dir(out)
        assert run_dir is not None
        self.check_finished(run_dir, reference)
        for kind in KINDS:
            self.counts[f"survived_{kind}"] += self.counts.pop(f"pending_{kind}", 0)

    def check_finished(self, run_dir: Path, reference: Path) -> None:
        state = check_run_dir(run_dir)
        if not state.finished:
            raise SystemExit(f"{run_dir}: not finished")
        assert_same_results(results(run_dir), results(reference))
        assert_same_weights(run_dir, reference)
        self.counts["runs_finished"] += 1
        # NaN and spikes: every injection in the poison spec was rolled back, and the run
        # still finished with a finite loss (it equals the reference).
        summary = json.loads((run_dir / "summary.json").read_text())
        if self.poison:
            grown = summary["grown"]
            if not math.isfinite(grown["val_loss"]):
                raise SystemExit(f"{run_dir}: the run ended with a non-finite loss")
            nans = len(self.poison.get("nan", []))
            spikes = len(self.poison.get("spikes", [])) // 3
            rollbacks = grown["rollbacks"]
            if rollbacks != nans + spikes:
                raise SystemExit(f"{run_dir}: {rollbacks} rollbacks for {nans + spikes} faults")
            for key, n in (("nan", nans), ("spike", spikes)):
                self.counts[f"injected_{key}"] += n
                self.counts[f"survived_{key}"] += n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("stress-results"))
    parser.add_argument("--docs", type=Path, default=None, help="page with the stress table")
    parser.add_argument("--faults", type=int, default=15, help="faults per scenario")
    parser.add_argument("--started", type=float, default=None, help="session start (epoch s)")
    parser.add_argument("--seed", type=int, default=2024)
    options = parser.parse_args()
    started = options.started or time.time()
    options.out = options.out.resolve()  # the esper processes run in tests/
    options.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)
    epochs, updates = 36, 12
    poison = {
        # Fixed epochs of the grown arm: the same in the reference and after every resume.
        "nan": [["grown", e] for e in (7, 16, 29)],
        "spikes": [["grown", e] for e in (20, 21, 22)],
    }
    scenarios = [
        Scenario("run", growth_args(11, epochs), epochs, options.out / "runs", poison),
        Scenario("train", train_args(12, updates), updates, options.out / "runs", {}),
    ]
    scenarios[0].augment_calls_per_step = 2 * math.ceil(640 / 128)
    scenarios[1].augment_calls_per_step = 2 * 4 * math.ceil(256 / 128)
    total: Counter[str] = Counter()
    for scenario in scenarios:
        print(f"{scenario.name}: reference", flush=True)
        reference = scenario.reference()
        print(f"{scenario.name}: {options.faults} faults", flush=True)
        scenario.faulted(reference, rng, options.faults)
        figures_line = {"source": f"long_run.{scenario.name}", **scenario.counts}
        with (options.out / "figures.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(figures_line) + "\n")
        total.update(scenario.counts)
        print(f"{scenario.name}: {dict(scenario.counts)}", flush=True)
    if total["lost_bytes"]:
        raise SystemExit(f"{total['lost_bytes']} bytes of finished work were lost")
    all_figures = stress_report.totals(options.out / "figures.jsonl")
    machine = stress_report.machine_info(time.time() - started)
    (options.out / "stress.json").write_text(
        json.dumps({"machine": machine, "figures": dict(all_figures)}, indent=2) + "\n"
    )
    print(stress_report.to_markdown(all_figures, machine))
    if options.docs is not None:
        stress_report.update_docs(all_figures, machine, options.docs)


if __name__ == "__main__":
    main()
