"""Telemetry overhead: a short ``esper run`` with the JSONL sink vs the same run with no sinks.

Both variants run the whole command as `esper.cli.cmd_run` does it — `RunSession` (run
directory, config.toml, log.jsonl, hooks, run.started/ended) around `GrowthRun` (both arms,
checkpoint and summary at the end) — from the same seed, so they do identical work except
that one writes and flushes every event to ``events.jsonl``. Goal: at most 2% slower.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from esper.config import EsperConfig, resolve
from esper.recipes.grow import GrowthRun
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.rundir.session import RunSession

from esper_bench.suite import Figure, benchmark
from esper_bench.timing import compare, ratio

#: A short run on a small image task: long enough to germinate a seed, short enough to repeat.
RUN_OVERRIDES = (
    "run.epochs=3",
    "run.device='cpu'",
    "run.static_baseline=true",
    "task.name='image'",
    "task.train_size=256",
    "task.val_size=128",
)
#: The variants' sink selections, as ``--set`` overrides.
SINKS = {"jsonl": 'telemetry.sinks=["jsonl"]', "off": "telemetry.sinks=[]"}


@benchmark("telemetry_sinks")
def telemetry_sinks(quick: bool) -> list[Figure]:
    manager = build_manager(autoload=False)
    registries = Registries(manager)
    configs = {
        name: resolve(registries, overrides=[*RUN_OVERRIDES, sinks])
        for name, sinks in SINKS.items()
    }
    if set(configs["off"].sinks) or list(configs["jsonl"].sinks) != ["jsonl"]:
        raise RuntimeError("telemetry benchmark: the variants do not select the intended sinks")
    counter = itertools.count()
    events_per_run: dict[str, int] = {}
    jsonl_bytes: list[int] = []

    with tempfile.TemporaryDirectory(prefix="esper-bench-telemetry-") as tmp:

        def one_run(name: str, config: EsperConfig) -> None:
            run_dir = Path(tmp) / f"{name}-{next(counter)}"
            with RunSession(manager, config, command="run", run_dir=run_dir) as session:
                GrowthRun.build(config, registries, session).run()
            events_per_run[name] = sum(session.bus.emitted.values())
            log = run_dir / "events.jsonl"
            if log.exists():
                jsonl_bytes.append(log.stat().st_size)
            shutil.rmtree(run_dir)  # keep the disk (and its page cache) the same for every run

        def variant(name: str) -> Callable[[], None]:
            return lambda: one_run(name, configs[name])

        timings = compare(
            {name: variant(name) for name in configs},
            repeats=3 if quick else 7,
            warmup=1,
        )
    return [
        Figure(
            name="short esper run (3 epochs, both arms): JSONL sink vs no sinks (ratio of minimums)",
            value=ratio(timings, "jsonl", "off", stat="min"),
            unit="x",
            goal="<= 1.02",
            detail={
                "off_min_s": timings["off"].min_s,
                "off_median_s": timings["off"].median_s,
                "jsonl_min_s": timings["jsonl"].min_s,
                "jsonl_median_s": timings["jsonl"].median_s,
                "ratio_of_medians": ratio(timings, "jsonl", "off"),
                "events_per_run": events_per_run.get("jsonl", 0),
                "events_jsonl_bytes": max(jsonl_bytes, default=0),
                "samples": timings["jsonl"].samples,
            },
        )
    ]
