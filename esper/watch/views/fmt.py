"""How the panels write numbers and durations (``-`` for what is not known)."""

from __future__ import annotations

import math


def num(value: float | None, spec: str = ".4g") -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return format(value, spec)


def status(sessions: int, ended: str | None) -> str:
    """A run's status: ``waiting`` (no event yet), ``running`` (a session is open) or how its
    last session ended."""
    if sessions == 0:
        return "waiting"
    return ended or "running"
