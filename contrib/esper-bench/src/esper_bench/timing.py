"""Interleaved timing of variants: medians of repeated, alternating measurements."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import attrs


@attrs.frozen(kw_only=True)
class Timing:
    median_s: float
    min_s: float
    samples: int


def compare(
    variants: Mapping[str, Callable[[], object]],
    *,
    repeats: int = 30,
    warmup: int = 3,
    inner: int = 1,
    sync: Callable[[], None] | None = None,
) -> dict[str, Timing]:
    """Time each variant ``repeats`` times, alternating (and rotating) their order.

    ``inner`` calls are timed together to lift short operations above timer resolution;
    ``sync`` (e.g. ``torch.cuda.synchronize``) runs before each clock read on asynchronous
    devices.
    """
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = variants[name]
            if sync is not None:
                sync()
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            if sync is not None:
                sync()
            samples[name].append((time.perf_counter() - start) / inner)
    return {
        name: Timing(median_s=statistics.median(s), min_s=min(s), samples=len(s))
        for name, s in samples.items()
    }


def ratio(
    timings: Mapping[str, Timing], numerator: str, denominator: str, *, stat: str = "median"
) -> float:
    """Ratio of two variants' medians, or of their minimums (``stat="min"``: the runs least
    disturbed by other work on the machine, the usual choice for the overhead of identical code)."""
    if stat == "min":
        return timings[numerator].min_s / timings[denominator].min_s
    return timings[numerator].median_s / timings[denominator].median_s
