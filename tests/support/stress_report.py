"""The figures of ``nox -s stress`` as a table in docs/reliability.md.

`totals` adds up the JSON lines that the stress tests and tests/stress/long_run.py append to
``figures.jsonl`` (tests/support/figures.py); `update_docs` writes the table between the
markers of the page, and the figures as ``reliability.json`` beside it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

DOCS_START = "<!-- stress-table:start -->"
DOCS_END = "<!-- stress-table:end -->"

#: Fault kinds in the order the table lists them, with their labels.
FAULT_KINDS = {
    "sigkill": "SIGKILL at a random moment",
    "sigkill_mid_checkpoint_write": "SIGKILL in the middle of a checkpoint write",
    "sigint": "SIGINT (Ctrl-C; twice: at once)",
    "disk_full": "disk full (ENOSPC on a write)",
    "data_path_crash": "data path crash (loader raising mid-epoch)",
    "nan": "NaN validation loss",
    "spike": "loss spike series (3 epochs)",
}
FUZZ_KINDS = {
    "config_files": "config files",
    "set_values": "`--set` values",
    "run_configs": "configs run by `esper run`",
    "event_lines": "malformed events.jsonl lines",
    "checkpoints": "damaged checkpoints",
    "malicious_checkpoints": "malicious checkpoints (per command)",
    "report_pages": "report pages (15 hostile strings each)",
    "config_paths": "config paths",
}


def totals(figures_file: Path) -> Counter[str]:
    """The sum of every numeric figure in ``figures_file`` (one JSON object per line)."""
    total: Counter[str] = Counter()
    if not figures_file.exists():
        return total
    for line in figures_file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        for key, value in json.loads(line).items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] += value
    return total


def to_markdown(total: Counter[str], machine: dict[str, Any]) -> str:
    """The table (and a line on the machine) for docs/reliability.md."""
    lines = [
        f"Machine: {machine['cpu_count']} CPUs, {machine['platform']}; Python "
        f"{machine['python']}, torch {machine['torch']}; stress session "
        f"{machine['wall_s'] / 60:.1f} min on {machine['date']}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| runs finished under faults (esper run + esper train) | {total['runs_finished']} |",
        f"| esper processes started (fresh, resumed, killed) | {total['runs']} |",
    ]
    for kind, label in FAULT_KINDS.items():
        injected, survived = total[f"injected_{kind}"], total[f"survived_{kind}"]
        if injected:
            lines.append(f"| faults injected: {label} | {injected} (survived {survived}) |")
    injected = sum(total[f"injected_{k}"] for k in FAULT_KINDS)
    survived = sum(total[f"survived_{k}"] for k in FAULT_KINDS)
    lines.append(f"| faults injected, all kinds | {injected} |")
    lines.append(f"| faults survived | {survived} |")
    lines.append(f"| bytes of finished work lost (goal 0) | {total['lost_bytes']} |")
    lines.append(
        f"| steps redone after a fault (work since the last checkpoint) | {total['steps_redone']} |"
    )
    fuzzed = sum(total[f"fuzzed_{k}"] for k in FUZZ_KINDS)
    lines.append(f"| inputs fuzzed | {fuzzed} |")
    for kind, label in FUZZ_KINDS.items():
        if total[f"fuzzed_{kind}"]:
            lines.append(f"| &nbsp;&nbsp;{label} | {total[f'fuzzed_{kind}']} |")
    return "\n".join(lines) + "\n"


def update_docs(total: Counter[str], machine: dict[str, Any], page: Path) -> Path:
    """Write the table into ``page`` between the markers; the figures go to
    ``reliability.json`` beside it. Returns the JSON's path."""
    text = page.read_text(encoding="utf-8")
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start < 0 or end < start:
        raise ValueError(f"{page}: no {DOCS_START} ... {DOCS_END} markers")
    new = text[: start + len(DOCS_START)] + "\n" + to_markdown(total, machine) + text[end:]
    page.write_text(new, encoding="utf-8")
    json_path = page.parent / "reliability.json"
    data = {"machine": machine, "figures": dict(sorted(total.items()))}
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return json_path


def machine_info(wall_s: float) -> dict[str, Any]:
    import platform
    import time

    import torch

    return {
        "cpu_count": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "wall_s": round(wall_s, 1),
        "date": time.strftime("%Y-%m-%d"),
    }
