"""Where a run may write.

Relative paths from a config are resolved inside the run directory and may not climb out of
it (``../../etc``); a user who wants a file elsewhere names an absolute path explicitly.
"""

from __future__ import annotations

from pathlib import Path

from esper.errors import ConfigError


def resolve_in_run_dir(run_dir: Path | None, value: str, *, key: str) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    base = (run_dir or Path.cwd()).resolve()
    resolved = (base / path).resolve()
    if not resolved.is_relative_to(base):
        raise ConfigError(
            [f"{key}: relative path {value!r} points outside the run directory {base}"]
        )
    return resolved
