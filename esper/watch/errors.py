"""`WatchError`: what ``esper watch`` reports without a traceback (exit status 2)."""

from __future__ import annotations

from esper.errors import EsperError


class WatchError(EsperError):
    """A run directory to watch is missing or is not one, or the dashboard cannot start."""


#: The message when textual, an optional dependency, is not installed.
TEXTUAL_MISSING = (
    "esper watch needs textual, an optional dependency: pip install 'esper-nn[watch]' "
    "(or use --once, which prints the panels without it)"
)
