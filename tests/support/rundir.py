"""Checks of a run directory after a fault: every file whole, and the finished work still there.

`check_run_dir` is the invariant the reliability tests assert after every fault: each file is
an old or a new complete version (checkpoints load, every line of the logs parses, JSON and
TOML files parse), whatever moment the process died at. `snapshot` and `bytes_lost` measure
what a fault destroyed of the work finished before it: the event lines already written, the
checkpoint already in place (a newer valid checkpoint may replace it, never a broken one),
the config and a finished run's summary.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import attrs

from esper.rundir.checkpoint import load_checkpoint
from esper.telemetry.events import read_event_objects

CHECKPOINTS = ("checkpoint.pt", "policy.pt")


@attrs.frozen
class RunDirState:
    """What `check_run_dir` found."""

    checkpoint: str | None
    #: Epoch (``esper run``) or update (``esper train``) the checkpoint holds, 0 without one.
    position: int
    events: int
    finished: bool
    temporaries: tuple[str, ...]


def checkpoint_position(state: dict[str, Any]) -> int:
    if "arms" in state:
        return int(state["arms"]["grown"]["epoch"])
    return int(state["update"])


def check_run_dir(run_dir: Path) -> RunDirState:
    """Raise AssertionError unless every file in ``run_dir`` is whole (see the module doc)."""
    tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    checkpoint, position = None, 0
    for name in CHECKPOINTS:
        if (run_dir / name).exists():
            checkpoint = name
            position = checkpoint_position(load_checkpoint(run_dir / name))
    events = run_dir / "events.jsonl"
    count = 0
    if events.exists():
        data = events.read_bytes()
        assert not data or data.endswith(b"\n"), f"{events}: torn last line {data[-80:]!r}"
        count = sum(1 for _ in read_event_objects(events))  # strict: names a bad line
    log = run_dir / "log.jsonl"
    if log.exists():
        for lineno, line in enumerate(log.read_text(encoding="utf-8").splitlines(), start=1):
            assert isinstance(json.loads(line), dict), f"{log}:{lineno}"
    summary = run_dir / "summary.json"
    if summary.exists():
        assert isinstance(json.loads(summary.read_text(encoding="utf-8")), dict)
    temporaries = tuple(sorted(p.name for p in run_dir.glob(".*.tmp")))
    return RunDirState(checkpoint, position, count, summary.exists(), temporaries)


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """The finished work in ``run_dir`` now: whole event lines, checkpoint, config, summary."""
    work: dict[str, bytes] = {}
    events = run_dir / "events.jsonl"
    if events.exists():
        data = events.read_bytes()
        work["events.jsonl"] = data[: data.rfind(b"\n") + 1]
    for name in (*CHECKPOINTS, "config.toml", "summary.json"):
        if (run_dir / name).exists():
            work[name] = (run_dir / name).read_bytes()
    return work


def bytes_lost(before: dict[str, bytes], run_dir: Path) -> int:
    """Bytes of ``before`` (a `snapshot`) that ``run_dir`` no longer holds or supersedes.

    Event lines must still be a prefix of the log (a run only appends); a checkpoint may have
    been replaced by a valid one at the same or a later position; config.toml may be
    rewritten with the same content; a summary, once written, must stay.
    """
    lost = 0
    for name, old in before.items():
        path = run_dir / name
        new = path.read_bytes() if path.exists() else b""
        if name == "events.jsonl":
            same = 0
            for a, b in zip(old, new, strict=False):
                if a != b:
                    break
                same += 1
            lost += len(old) - same
        elif name in CHECKPOINTS:
            if new == old:
                continue
            try:
                kept = checkpoint_position(load_checkpoint(path))
            except Exception:
                lost += len(old)
                continue
            old_position = checkpoint_position(_load_bytes(old, path))
            if kept < old_position:
                lost += len(old)
        elif new != old:
            lost += len(old)
    return lost


def _load_bytes(data: bytes, near: Path) -> dict[str, Any]:
    scratch = near.with_name(f"{near.name}.snapshot-check")
    scratch.write_bytes(data)
    try:
        return load_checkpoint(scratch)
    finally:
        scratch.unlink()
