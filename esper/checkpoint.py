"""Checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds only tensors and plain containers, so loading it never unpickles code: a
checkpoint from someone else cannot execute anything. A corrupt, truncated or incompatible
file gives a clear `CheckpointError` and leaves every other file in the run directory intact.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from esper.atomic import write_bytes_atomic
from esper.errors import EsperError

#: Bumped when the layout of a checkpoint changes incompatibly.
CHECKPOINT_SCHEMA = 1


class CheckpointError(EsperError):
    """A checkpoint could not be read or does not fit this run."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> Path:
    buffer = io.BytesIO()
    torch.save({"schema": CHECKPOINT_SCHEMA, **state}, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load (not plain weights/data; possibly unsafe): {exc}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(state, dict) or state.get("schema") != CHECKPOINT_SCHEMA:
        found = state.get("schema") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path}: checkpoint schema {found!r} is not supported (expected {CHECKPOINT_SCHEMA})"
        )
    return state
