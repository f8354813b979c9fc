"""Test helpers: read an offline W&B run back with wandb's own reader.

``wandb leet inspect --json`` prints the records of a run's transaction log
(``offline-run-*/run-*.wandb``) as JSON, one per line; with ``--summary`` it prints the run's
final state instead: config, summary, tags, name, state. A table's rows live in the file that
its summary entry names, under the run's ``files/`` folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs


@attrs.frozen
class OfflineRun:
    #: ``offline-run-<time>-<id>``: the run's folder, with ``run-<id>.wandb`` and ``files/``.
    path: Path
    records: list[dict[str, Any]]
    state: dict[str, Any]

    def history(self) -> list[dict[str, Any]]:
        """Every row ``run.log`` wrote, in order, without W&B's own ``_`` keys."""
        rows = (r["history"]["item"] for r in self.records if r["type"] == "history")
        return [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]

    def series(self, key: str, axis: str) -> list[tuple[Any, Any]]:
        """(axis value, value) of each row that holds ``key``."""
        return [(row[axis], row[key]) for row in self.history() if key in row]

    def table(self, key: str) -> dict[str, Any]:
        """The columns and rows of the table logged under ``key`` (its last version)."""
        entry = self.state["summary"][key]
        assert entry["_type"] == "table-file"
        table: dict[str, Any] = json.loads((self.path / "files" / entry["path"]).read_text())
        return table


def _inspect(path: Path, *flags: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", *flags, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def offline_runs(wandb_parent: Path) -> list[Path]:
    """The offline run folders under ``<wandb_parent>/wandb``, oldest first."""
    return sorted((wandb_parent / "wandb").glob("offline-run-*"))


def read_run(wandb_parent: Path) -> OfflineRun:
    """The one offline run under ``<wandb_parent>/wandb``."""
    (path,) = offline_runs(wandb_parent)
    (log,) = path.glob("run-*.wandb")
    records = [json.loads(line) for line in _inspect(log).splitlines() if line.strip()]
    state = json.loads(_inspect(log, "--summary"))
    return OfflineRun(path=path, records=records, state=state)
