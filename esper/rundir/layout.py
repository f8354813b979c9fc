"""Every file of a run directory, named once, and the one reader of them.

A run directory (``runs/<run id>/``) holds:

- ``config.toml`` — the resolved configuration, written when the run starts (`CONFIG`);
- ``events.jsonl`` — the JSONL sink's event log, one JSON object per line (`EVENTS`);
- ``log.jsonl`` — esper's structured log records (`LOG`);
- ``summary.json`` — the final figures, written when the run finishes (`SUMMARY`);
- ``checkpoint.pt`` (``esper run``) or ``policy.pt`` (``esper train``) — what ``esper
  resume`` continues from (`CHECKPOINTS`);
- ``report/`` or ``report-compare/`` — what ``esper report`` writes (`REPORT`, `COMPARE`).

`read_config`, `read_summary` and `read_events` are how every tool reads them (``esper runs
list``, ``esper report``, ``esper resume``): each raises `RunFileError` naming the file (and
the line, where there is one; a malformed event line is a `TelemetryError`). Nothing here
imports torch.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from esper.errors import EsperError
from esper.telemetry.events import read_event_objects

CONFIG = "config.toml"
EVENTS = "events.jsonl"
LOG = "log.jsonl"
SUMMARY = "summary.json"
#: The checkpoint of each command.
CHECKPOINTS: dict[str, str] = {"run": "checkpoint.pt", "train": "policy.pt"}
RUN_CHECKPOINT = CHECKPOINTS["run"]
POLICY_CHECKPOINT = CHECKPOINTS["train"]
#: What ``esper report`` writes into the first run directory it is given.
REPORT = "report"
COMPARE = "report-compare"
#: Files of which at least one marks a directory as a run directory.
RUN_FILES: tuple[str, ...] = (CONFIG, EVENTS, SUMMARY, LOG, *CHECKPOINTS.values())

Command = Literal["run", "train"]


class RunFileError(EsperError):
    """A file of a run directory is missing or cannot be read; the message names it."""


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds any file a run writes."""
    return path.is_dir() and any((path / name).is_file() for name in RUN_FILES)


def checkpoint(run_dir: Path) -> str | None:
    """The checkpoint file present in ``run_dir`` (``checkpoint.pt`` first), if any."""
    present = [name for name in CHECKPOINTS.values() if (run_dir / name).is_file()]
    return present[0] if present else None


def read_config(run_dir: Path) -> tuple[dict[str, Any], str]:
    """The run's ``config.toml``, parsed, and its text."""
    path = run_dir / CONFIG
    if not path.is_file():
        raise RunFileError(f"{path}: missing (esper run and esper train write one)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{path}: cannot read: {exc}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise RunFileError(f"{path}: not valid TOML: {exc}") from None


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``summary.json`` (None while the run has not finished)."""
    path = run_dir / SUMMARY
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunFileError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise RunFileError(f"{path}: must hold a JSON object, got {type(data).__name__}")
    return data


def read_events(
    run_dir: Path, *, strict: bool = True, skipped: list[str] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """The run's event log as ``(line number, checked JSON object)`` pairs.

    A line that is not an event raises `esper.errors.TelemetryError` naming the file and line;
    ``strict=False`` skips it instead and names it in ``skipped``: a listing shows what it can
    still read.
    """
    path = run_dir / EVENTS
    if not path.is_file():
        raise RunFileError(f"{path}: missing")
    try:
        return list(read_event_objects(path, strict=strict, skipped=skipped))
    except OSError as exc:
        raise RunFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
