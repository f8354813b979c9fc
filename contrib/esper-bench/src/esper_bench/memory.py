"""Peak memory of the default ``esper run``, next to a baseline measured in the same call.

Each variant runs in a fresh child process; its peak resident set size is read with
``resource.getrusage(RUSAGE_CHILDREN)`` by a small wrapper, so the benchmark process itself
(which has imported torch and built models) does not count. Memory does not grow with the
number of epochs (data is loaded once, accumulators are pre-allocated), so two epochs suffice.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from esper_bench.suite import Figure, benchmark

# Runs `argv` in a grandchild and prints the grandchild's peak RSS in KiB (Linux units).
_WRAPPER = (
    "import resource, subprocess, sys; "
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _peak_mib(argv: list[str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv], capture_output=True, text=True, check=True
    ).stdout.split()
    if out[0] != "0":
        raise RuntimeError(f"{argv} exited with status {out[0]}")
    return int(out[1]) / 1024.0


@benchmark("run_memory")
def run_memory(quick: bool) -> list[Figure]:
    epochs = 1 if quick else 2
    with tempfile.TemporaryDirectory() as out:
        run = _peak_mib(
            [sys.executable, "-m", "esper", "run", "--epochs", str(epochs), "--quiet", "--out", out]
        )
    baseline = _peak_mib([sys.executable, "-c", "import torch, esper.engine.environment"])
    return [
        Figure(
            name=f"peak RSS of the default esper run (image task, both arms, {epochs} epochs)",
            value=run,
            unit="MiB",
            detail={"baseline_import_torch_mib": baseline, "epochs": epochs},
        ),
        Figure(
            name="peak RSS of python importing torch and esper's engine (baseline, same call)",
            value=baseline,
            unit="MiB",
            detail={"command": json.dumps("import torch, esper.engine.environment")},
        ),
    ]
