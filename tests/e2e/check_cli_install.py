"""Every command of an installed esper, run once as a user runs it (nox session ``cli``).

    pip install .                                # not editable: the wheel users get
    pip install tests/fixtures/mlp-plugin        # a third-party topology, through its entry point
    python tests/e2e/check_cli_install.py

Runs the venv's real ``esper`` console script in subprocesses, from a scratch directory (so the
checkout is not on sys.path), with autoload on and no ESPER_* variables, with tiny settings.
Every check runs even when an earlier one failed; exits 1 if any did. Not collected by pytest:
it needs the installed distributions. The suite's own tests use an editable install, which
cannot notice a module missing from the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ESPER = str(Path(sys.executable).with_name("esper"))
#: Tiny runs: a few small batches of a small embedded dataset.
TINY = [
    "--set", "run.batches_per_epoch=2",
    "--set", "task.train_size=256",
    "--set", "task.val_size=128",
]  # fmt: skip


class Checks:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.failed: list[str] = []
        self.passed = 0

    def esper(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
        started = time.perf_counter()
        result = subprocess.run(
            [ESPER, *args], cwd=self.cwd, env=env, capture_output=True, text=True, timeout=900
        )
        took = time.perf_counter() - started
        name = "esper " + " ".join(args)
        problem = None
        if result.returncode != expect:
            problem = f"exit {result.returncode}, expected {expect}: {result.stderr[-2000:]}"
        elif "Traceback" in result.stderr:
            problem = f"a traceback on stderr: {result.stderr[-2000:]}"
        self.report(name, problem, took)
        return result

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.report(name, None if ok else detail or "failed", None)

    def report(self, name: str, problem: str | None, took: float | None) -> None:
        timing = f" ({took:.1f} s)" if took is not None else ""
        print(
            f"{'FAIL' if problem else 'ok'}: {name}{timing}" + (f": {problem}" if problem else "")
        )
        if problem:
            self.failed.append(name)
        else:
            self.passed += 1


def newest_run(runs: Path, before: set[Path]) -> Path:
    [run_dir] = set(runs.iterdir()) - before
    return run_dir


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        c = Checks(cwd)
        runs = cwd / "runs"
        runs.mkdir()

        # Start-up and plugins.
        c.esper("--help")
        c.esper("--version")
        listing = c.esper("plugins", "list", "--json")
        names = {p["name"] for p in json.loads(listing.stdout or "[]")}
        c.check("built-in and fixture plugins listed", {"esper.tasks.builtin", "mlpfix"} <= names)
        c.esper("plugins", "list")
        c.esper("plugins", "info", "esper.tasks.builtin")
        c.esper("plugins", "doctor")
        c.esper("blueprints")
        c.esper("blueprints", "--topology", "mlp", "--json")
        c.esper("config", "show", "--set", "run.epochs=2")

        # Presets: their TOML files are package data, read from the installed wheel.
        presets = c.esper("presets", "list", "--format", "json")
        listed = {p["name"] for p in json.loads(presets.stdout or "[]")}
        c.check("at least six presets listed", len(listed) >= 6 and "cifar10-impaired" in listed)
        c.esper("presets", "list")
        c.esper("presets", "show", "cifar10-impaired")
        c.esper("config", "show", "--preset", "cifar10-scaled")
        before = set(runs.iterdir())
        c.esper(
            "run", "--preset", "stories", "--epochs", "1", "--set", "task.train_windows=32",
            "--set", "task.val_windows=8", "--out", str(runs), "--quiet",
        )  # fmt: skip
        preset_run = newest_run(runs, before)
        c.check("preset run wrote summary.json", (preset_run / "summary.json").is_file())
        c.esper("run", "--preset", "cifar10-impared", expect=2)

        # esper run, resume, report, runs list.
        before = set(runs.iterdir())
        c.esper("run", "--epochs", "3", *TINY, "--out", str(runs), "--quiet")
        grown = newest_run(runs, before)
        c.check("run wrote summary.json", (grown / "summary.json").is_file())
        c.esper("resume", str(grown), "--quiet")
        c.esper("report", str(grown))
        c.check("report wrote index.html", (grown / "report" / "index.html").is_file())
        c.esper("runs", "list", str(runs))
        c.esper("runs", "list", str(runs), "--json")

        # esper train, its report and resume.
        before = set(runs.iterdir())
        c.esper(
            "train", "--episodes", "2", "--envs", "2", "--set", "run.epochs=3", *TINY,
            "--out", str(runs), "--quiet",
        )  # fmt: skip
        trained = newest_run(runs, before)
        c.check("train wrote policy.pt", (trained / "policy.pt").is_file())
        c.esper("resume", str(trained), "--quiet")
        c.esper("report", str(trained))
        # esper watch: --once prints the panels with rich alone; the dashboard needs textual,
        # the watch extra, which `pip install .` leaves out: it says so and exits 2.
        watched = c.esper("watch", "--once", str(trained))
        c.check("watch --once shows the PPO panel", "approx. KL" in watched.stdout, watched.stdout)
        missing = c.esper("watch", str(runs), expect=2)
        c.check("watch names the extra", "esper-nn[watch]" in missing.stderr, missing.stderr)

        # esper eval (two worker processes, the trained policy.pt as a controller), its report.
        evals = Path(tempfile.mkdtemp(prefix="esper-evals-"))
        c.esper(
            "eval", "--controllers", f"static,heuristic,{trained / 'policy.pt'}", "--seeds", "2",
            "--workers", "2", "--epochs", "3", *TINY, "--out", str(evals), "--name", "e",
            "--quiet",
        )  # fmt: skip
        c.check("eval wrote eval.json", (evals / "e" / "eval.json").is_file())
        c.esper("report", str(evals / "e"))
        c.check("eval report", (evals / "e" / "report" / "index.html").is_file())

        # A topology esper's core has never heard of, from an installed plugin.
        before = set(runs.iterdir())
        c.esper("run", "--task", "blobs", "--epochs", "8", "--out", str(runs), "--quiet")
        blobs = newest_run(runs, before)
        summary = json.loads((blobs / "summary.json").read_text() or "{}")
        c.check("blobs run uses the plugin's task", summary.get("task") == "mlpfix:blobs")
        c.esper(
            "train", "--task", "blobs", "--episodes", "2", "--envs", "2", "--out", str(runs),
            "--quiet",
        )  # fmt: skip
        bad = c.esper("run", "--task", "blobs", "--set", "task.defect=label", expect=2)
        c.check("bad labels name the task", "task 'mlpfix:blobs'" in bad.stderr, bad.stderr)

    total = c.passed + len(c.failed)
    print(f"cli: {c.passed} of {total} passed" + (f"; failed: {c.failed}" if c.failed else ""))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
