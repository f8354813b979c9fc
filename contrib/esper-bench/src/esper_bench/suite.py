"""The benchmark registry and runner: ``esper bench`` writes ``bench.json`` and ``bench.md``.

The benchmark modules import esper's internal modules on purpose: they time them (see the
package docstring).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from esper.rundir.atomic import write_text_atomic

#: Modules whose import registers benchmarks (each adds its functions with `benchmark`).
BENCHMARK_MODULES: tuple[str, ...] = (
    "esper_bench.slots",
    "esper_bench.engine",
    "esper_bench.startup",
    "esper_bench.policy",
    "esper_bench.ppo",
    "esper_bench.runners",
    "esper_bench.telemetry",
    "esper_bench.memory",
)


@attrs.frozen(kw_only=True)
class Figure:
    """One measured number. ``goal`` is e.g. ``"<= 1.02"``; ``met`` is None without a goal."""

    name: str
    value: float
    unit: str
    goal: str | None = None
    detail: dict[str, Any] = attrs.field(factory=dict)

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        op, _, bound = self.goal.partition(" ")
        limit = float(bound)
        return {"<=": self.value <= limit, ">=": self.value >= limit, "==": self.value == limit}[op]


BenchFn = Callable[[bool], list[Figure]]
_REGISTRY: dict[str, BenchFn] = {}


def benchmark(name: str) -> Callable[[BenchFn], BenchFn]:
    """Register ``fn(quick) -> [Figure, ...]`` under ``name``."""

    def decorate(fn: BenchFn) -> BenchFn:
        _REGISTRY[name] = fn
        return fn

    return decorate


def available() -> list[str]:
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    return sorted(_REGISTRY)


def machine() -> dict[str, Any]:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def run(names: Sequence[str] | None = None, *, quick: bool = False) -> dict[str, Any]:
    selected = available() if not names else list(names)
    unknown = sorted(set(selected) - set(_REGISTRY))
    if unknown:
        from esper.errors import EsperError

        raise EsperError(
            f"unknown benchmark(s) {unknown}; available: {', '.join(sorted(_REGISTRY))}"
        )
    results: list[dict[str, Any]] = []
    started = time.time()
    for name in selected:
        t0 = time.perf_counter()
        figures = _REGISTRY[name](quick)
        for fig in figures:
            results.append({"benchmark": name, **attrs.asdict(fig), "met": fig.met})
        results[-1]["bench_seconds"] = round(time.perf_counter() - t0, 2) if figures else None
    return {"machine": machine(), "quick": quick, "started": started, "figures": results}


def to_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"Machine: {m['processor']}, {m['cpu_count']} CPUs, {m['platform']}; Python {m['python']}, "
        f"torch {m['torch']} ({m['torch_threads']} threads)"
        + (f", GPU {m['cuda']}" if m["cuda"] else "")
        + ".",
        "",
        "| benchmark | figure | value | goal | met |",
        "|---|---|---|---|---|",
    ]
    for fig in report["figures"]:
        value = f"{fig['value']:.3f} {fig['unit']}".rstrip()
        met = "" if fig["met"] is None else ("yes" if fig["met"] else "**no**")
        lines.append(
            f"| {fig['benchmark']} | {fig['name']} | {value} | {fig['goal'] or ''} | {met} |"
        )
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = write_text_atomic(out_dir / "bench.json", json.dumps(report, indent=2) + "\n")
    md_path = write_text_atomic(out_dir / "bench.md", to_markdown(report))
    return json_path, md_path


#: The markers between which `update_docs` writes the table in a markdown page.
DOCS_START = "<!-- bench-table:start -->"
DOCS_END = "<!-- bench-table:end -->"


def update_docs(report: dict[str, Any], page: Path) -> Path:
    """Write the report's table into ``page`` between the bench-table markers, and the report
    itself as ``bench.json`` beside the page. Returns the JSON's path."""
    from esper.errors import EsperError

    text = page.read_text(encoding="utf-8")
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start < 0 or end < start:
        raise EsperError(
            f"{page}: no {DOCS_START} ... {DOCS_END} markers to write the table between"
        )
    table = to_markdown(report)
    new = text[: start + len(DOCS_START)] + "\n" + table + text[end:]
    write_text_atomic(page, new)
    json_path = page.parent / "bench.json"
    write_text_atomic(json_path, json.dumps(report, indent=2) + "\n")
    return json_path
