"""Figures the reliability tests report to the stress session (``nox -s stress``).

When ``ESPER_STRESS_OUT`` names a directory, each call appends one JSON line to
``figures.jsonl`` there; tests/stress/long_run.py adds its own and writes the totals into
docs/reliability.md. Outside the stress session nothing is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "ESPER_STRESS_OUT"


def record(source: str, **figures: int) -> None:
    """Add ``figures`` (counts such as ``faults_sigkill=3``) under ``source``."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    path = Path(folder) / "figures.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"source": source, **figures}) + "\n")
