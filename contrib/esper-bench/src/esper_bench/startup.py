"""Start-up cost of the CLI: ``esper --help`` wall time, and whether torch was imported."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from esper_bench.suite import Figure, benchmark


@benchmark("cli_startup")
def cli_startup(quick: bool) -> list[Figure]:
    env = {**os.environ, "ESPER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    runs = 3 if quick else 10
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "esper", "--help"], check=True, capture_output=True, env=env
        )
        times.append(time.perf_counter() - start)
    # Baseline in the same call: a bare interpreter start.
    bare = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, capture_output=True)
        bare.append(time.perf_counter() - start)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "esper", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    torch_imported = any(line.rstrip().endswith("| torch") for line in proc.stderr.splitlines())
    times.sort()
    bare.sort()
    return [
        Figure(
            name="esper --help wall time", value=times[len(times) // 2], unit="s", goal="<= 0.5"
        ),
        Figure(name="python -c pass wall time (baseline)", value=bare[len(bare) // 2], unit="s"),
        Figure(
            name="torch imported by --help", value=float(torch_imported), unit="bool", goal="== 0"
        ),
    ]
