"""Options of the built-in runners (no torch)."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class VectorizedConfig:
    #: Interleave environments batch by batch (off: each runs its epoch half in turn).
    interleave: bool = True
