"""How the panels write numbers and durations (``-`` for what is not known)."""

from __future__ import annotations

import math


def num(value: float | None, spec: str = ".4g") -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return format(value, spec)


def duration(seconds: float | None) -> str:
    """``12.3 s``, ``4m05s`` or ``2h07m``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def status(sessions: int, ended: str | None) -> str:
    """A run's status: ``waiting`` (no event yet), ``running`` (a session is open) or how its
    last session ended."""
    if sessions == 0:
        return "waiting"
    return ended or "running"
