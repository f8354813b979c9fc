"""Where a run may write.

Relative paths from a config are resolved inside the run directory and may not climb out of
it (``../../etc``); a user who wants a file elsewhere names an absolute path explicitly.
"""

from __future__ import annotations

from pathlib import Path

from esper.errors import ConfigError


def resolve_in_run_dir(run_dir: Path | None, value: str, *, key: str) -> Path:
    """``value`` as a path: absolute as given, relative inside ``run_dir`` (or the cwd).

    Raises `ConfigError` naming ``key`` when a relative path climbs out with ``..``.
    """
    if "\x00" in value:
        raise ConfigError([f"{key}: a path must not contain a NUL character"])
    path = Path(value)
    if value.startswith("~"):
        # Only a leading ~ names a home directory; pathlib would also expand "./~".
        path = path.expanduser()
    if path.is_absolute():
        return path
    base = (run_dir or Path.cwd()).resolve()
    resolved = (base / path).resolve()
    if not resolved.is_relative_to(base):
        raise ConfigError(
            [f"{key}: relative path {value!r} points outside the run directory {base}"]
        )
    return resolved
