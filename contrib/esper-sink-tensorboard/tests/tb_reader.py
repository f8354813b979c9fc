"""Test helpers: read a TensorBoard log directory back with TensorBoard's own reader."""

from __future__ import annotations

import struct
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

#: (step, value, wall_time) of each point, as TensorBoard reads it.
Points = list[tuple[int, float, float]]


def read_scalars(logdir: Path) -> dict[str, Points]:
    """Every scalar tag in ``logdir`` with all its points (no down-sampling)."""
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(p.step, p.value, p.wall_time) for p in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def f32(value: float) -> float:
    """``value`` rounded to a 32-bit float, the precision TensorBoard stores scalars in."""
    return float(struct.unpack("f", struct.pack("f", value))[0])
