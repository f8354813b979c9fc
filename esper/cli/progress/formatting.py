"""How the progress output writes its numbers: perplexity from a loss, and clock times."""

from __future__ import annotations

import math


def perplexity(val_loss: float) -> float:
    """Perplexity from a mean cross-entropy, capped so a diverged loss does not overflow."""
    return math.exp(min(val_loss, 50.0))


def format_clock(seconds: float | None) -> str:
    """``1:02:03`` or ``2:03``; ``--:--`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
