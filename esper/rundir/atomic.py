"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Write to a temporary file in the same directory, fsync it, rename it over the target, then
fsync the directory so the rename itself survives a power cut. A crash mid-write leaves the
previous file untouched and at most a stray ``.<name>.*.tmp`` file behind, which
`remove_stale_temporaries` clears (a run session does so when it opens a run directory). A
write that fails (a full disk, no permission) removes its temporary file and raises
`StorageError` naming the file; the previous version is still in place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from esper.errors import StorageError

#: Temporary files are named ``.<target name>.<random>.tmp`` next to their target.
TEMP_SUFFIX = ".tmp"

# mkstemp creates files with mode 0600; the written file gets the mode a plain open() would
# give it (0666 less the umask), or keeps the mode of the file it replaces.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_atomic(path: str | Path, writer: Callable[[BinaryIO], object]) -> Path:
    """Call ``writer(fh)`` on a temporary file, then move it to ``path`` atomically."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
        )
    except OSError as exc:
        raise _storage_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _mode_for(path))
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        # Includes KeyboardInterrupt: never leave a half-written temp file behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise _storage_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)
    return path


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _storage_error(path: Path, exc: OSError) -> StorageError:
    reason = exc.strerror or str(exc)
    errno = f" (errno {exc.errno})" if exc.errno else ""
    kept = " the previous version is intact" if path.exists() else " nothing was written"
    return StorageError(f"cannot write {path}: {reason}{errno};{kept}")


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files that writes killed mid-way left in ``directory``.

    Only files named as `write_atomic` names them (``.<name>.<random>.tmp``) are touched; call
    it only while no write to ``directory`` is in progress. Returns what was removed.
    """
    removed: list[Path] = []
    try:
        candidates = list(Path(directory).glob(f".*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for candidate in candidates:
        if candidate.is_file():
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform/filesystem
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
