"""Checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds only tensors and plain containers, so loading it never unpickles code: a
checkpoint from someone else cannot execute anything. A corrupt, truncated or incompatible
file gives a clear `CheckpointError` and leaves every other file in the run directory intact.
"""

from __future__ import annotations

import io
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from esper.errors import EsperError
from esper.rundir.atomic import write_bytes_atomic

#: The name torch's weights-only unpickler refused, as its message spells it.
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")

#: Bumped when the layout of a checkpoint changes incompatibly.
CHECKPOINT_SCHEMA = 1


class CheckpointError(EsperError):
    """A checkpoint could not be read or does not fit this run."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors and plain containers) to ``path`` atomically, with the schema."""
    buffer = io.BytesIO()
    torch.save({"schema": CHECKPOINT_SCHEMA, **state}, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def load_weights_only(path: Path, *, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, every failure a `CheckpointError`.

    The only way esper reads a torch file: a pickle that would build anything but tensors and
    plain containers (code, arbitrary classes) is refused before any of it runs.
    """
    if not path.is_file():
        raise CheckpointError(f"no {what} at {path}")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise CheckpointError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings():
            # A damaged file reads as some odd pickle protocol; the error below says enough.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message advises retrying with weights_only=False, which would run the
        # pickle: say what was refused and why, in esper's words only.
        found = _GLOBAL.search(str(exc))
        holds = (
            f"it would import {found.group(1)}, which is neither a tensor nor plain data"
            if found
            else "it holds something other than tensors and plain data, or it is corrupt"
        )
        raise CheckpointError(
            f"{path}: refused to load this {what}: {holds}. esper loads only weights and "
            "data, so nothing in the file was run; load checkpoints written by esper only"
        ) from None
    except Exception as exc:
        # A damaged file can fail inside torch's reader in many ways (a bad zip, a short
        # read, an unpickler stack that does not add up): each means the same to the user.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{path}: corrupt or truncated {what} ({type(exc).__name__}: {first})"
        ) from None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by `save_checkpoint`, checked to be of this schema."""
    state = load_weights_only(path)
    if not isinstance(state, dict) or state.get("schema") != CHECKPOINT_SCHEMA:
        found = state.get("schema") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path}: checkpoint schema {found!r} is not supported (expected {CHECKPOINT_SCHEMA})"
        )
    return state
