"""Summary statistics over seeds: means with Student-t intervals, and paired comparisons.

Plain Python (no numpy, no scipy): the t distribution comes from the regularised incomplete
beta function, evaluated with its continued fraction (Lentz's method), and the quantile by
bisection on that CDF. Seeds are few (tens), so exactness matters more than speed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs

#: Confidence level of every interval esper reports.
CONFIDENCE = 0.95


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), by the modified Lentz method."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"incomplete_beta needs 0 <= x <= 1, got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The fraction converges fast only below the mean; use the symmetry above it.
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: int) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"t distribution needs df >= 1, got {df}")
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (0.5 < p < 1) of Student's t with ``df`` degrees of freedom."""
    if not 0.5 < p < 1.0:
        raise ValueError(f"t_quantile needs 0.5 < p < 1, got {p}")
    tail = 2.0 * (1.0 - p)
    low, high = 0.0, 1.0
    while t_sf_two_sided(high, df) > tail:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_sf_two_sided(mid, df) > tail:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


@attrs.frozen(kw_only=True)
class Estimate:
    """Mean of ``n`` values with their sample standard deviation and a t interval."""

    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: an unknown spread or an unbounded end is null."""
        return {
            "n": self.n,
            "mean": _json_number(self.mean),
            "std": _json_number(self.std),
            "ci95": [_json_number(self.low), _json_number(self.high)],
        }


def estimate(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean, standard deviation (n - 1) and the Student-t confidence interval of ``values``.

    One value has no spread to estimate: its interval is unbounded (``-inf, inf``)."""
    n = len(values)
    if n == 0:
        raise ValueError("estimate needs at least one value")
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(n=1, mean=mean, std=math.nan, low=-math.inf, high=math.inf)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
    return Estimate(n=n, mean=mean, std=std, low=mean - half, high=mean + half)


@attrs.frozen(kw_only=True)
class PairedComparison:
    """``a - b`` over seeds both ran: the mean difference, its interval and a paired t test."""

    difference: Estimate
    t: float
    p_value: float
    wins: int
    losses: int
    ties: int

    @property
    def excludes_zero(self) -> bool:
        """The interval lies entirely on one side of zero."""
        return self.difference.low > 0.0 or self.difference.high < 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "difference": self.difference.to_dict(),
            "t": _json_number(self.t),
            "p_value": _json_number(self.p_value),
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "excludes_zero": self.excludes_zero,
        }


def paired(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> PairedComparison:
    """Paired comparison of ``a`` and ``b`` (the same seeds, in the same order)."""
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs equal lengths, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    diff = estimate(diffs, confidence)
    if diff.n < 2:
        t, p = math.nan, math.nan
    elif diff.std == 0.0:
        t = 0.0 if diff.mean == 0.0 else math.copysign(math.inf, diff.mean)
        p = 1.0 if diff.mean == 0.0 else 0.0
    else:
        t = diff.mean / (diff.std / math.sqrt(diff.n))
        p = t_sf_two_sided(t, diff.n - 1)
    return PairedComparison(
        difference=diff,
        t=t,
        p_value=p,
        wins=sum(d > 0 for d in diffs),
        losses=sum(d < 0 for d in diffs),
        ties=sum(d == 0 for d in diffs),
    )
