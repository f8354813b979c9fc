"""What lifecycle hooks learn about the run they are part of."""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen(kw_only=True)
class RunContext:
    """Identity and location of one run (``esper run``, ``esper train``, ...)."""

    run_id: str
    run_dir: Path | None
    command: str
    config: object = None
