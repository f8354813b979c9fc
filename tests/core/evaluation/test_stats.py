"""Student-t intervals and paired tests against published table values."""

from __future__ import annotations

import math

import pytest

from esper.evaluation.stats import (
    estimate,
    incomplete_beta,
    paired,
    t_quantile,
    t_sf_two_sided,
)


@pytest.mark.parametrize(
    ("df", "expected"),
    # Two-sided 95% critical values of Student's t (any statistics table).
    [
        (1, 12.7062047362),
        (4, 2.7764451052),
        (9, 2.2621571628),
        (29, 2.0452296421),
        (1000, 1.9623390808),
    ],
)
def test_t_quantile_matches_the_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, rel=1e-9)


def test_two_sided_p_values() -> None:
    assert t_sf_two_sided(2.0, 10) == pytest.approx(0.0733880348, rel=1e-8)
    assert t_sf_two_sided(-2.0, 10) == t_sf_two_sided(2.0, 10)
    assert t_sf_two_sided(0.0, 5) == pytest.approx(1.0)
    # df = 1 is the Cauchy distribution: P(|T| >= 1) = 1/2.
    assert t_sf_two_sided(1.0, 1) == pytest.approx(0.5, rel=1e-12)
    # df = 2 has a closed form: P(|T| >= t) = 1 - t / sqrt(2 + t^2), far into the tail too.
    for t in (0.5, 3.0, 27.0):
        assert t_sf_two_sided(t, 2) == pytest.approx(1 - t / math.sqrt(2 + t * t), rel=1e-9)


def test_incomplete_beta_closed_forms() -> None:
    # I_x(1, 1) = x and I_x(a, 1) = x^a.
    assert incomplete_beta(1.0, 1.0, 0.3) == pytest.approx(0.3, rel=1e-12)
    assert incomplete_beta(3.0, 1.0, 0.5) == pytest.approx(0.125, rel=1e-12)
    with pytest.raises(ValueError, match="0 <= x <= 1"):
        incomplete_beta(1.0, 1.0, 1.5)


def test_estimate_of_the_issue_five_seeds() -> None:
    # The five default-run gains quoted when the evaluation was asked for: mean +4.93 pp,
    # 95% interval about [-2.8, +12.6].
    e = estimate([4.83, -4.83, 12.17, 7.25, 5.25])
    assert e.mean == pytest.approx(4.934)
    assert e.std == pytest.approx(6.1880918, rel=1e-6)
    assert (e.low, e.high) == (pytest.approx(-2.74953, abs=1e-4), pytest.approx(12.61753, abs=1e-4))
    assert e.to_dict()["ci95"] == [e.low, e.high]


def test_one_value_has_an_unbounded_interval_written_as_null() -> None:
    e = estimate([3.0])
    assert math.isinf(e.low)
    assert math.isinf(e.high)
    assert math.isnan(e.std)
    assert e.to_dict() == {"n": 1, "mean": 3.0, "std": None, "ci95": [None, None]}
    with pytest.raises(ValueError, match="at least one"):
        estimate([])


def test_paired_comparison_cancels_the_shared_seed_effect() -> None:
    # b varies a lot from seed to seed; a is b plus a steady 1.0 (+-0.1): unpaired intervals
    # overlap, the paired one excludes zero.
    b = [40.0, 55.0, 47.0, 61.0, 38.0, 50.0]
    a = [x + d for x, d in zip(b, [1.0, 1.1, 0.9, 1.0, 1.1, 0.9], strict=True)]
    assert estimate(a).low < estimate(b).high
    result = paired(a, b)
    assert result.difference.mean == pytest.approx(1.0)
    assert result.excludes_zero
    assert result.wins == 6
    assert result.losses == 0
    t = 1.0 / (result.difference.std / math.sqrt(6))
    assert result.t == pytest.approx(t)
    assert result.p_value == pytest.approx(t_sf_two_sided(t, 5))
    assert result.p_value < 1e-5


def test_paired_edge_cases() -> None:
    same = paired([1.0, 2.0], [1.0, 2.0])
    assert (same.t, same.p_value, same.ties, same.excludes_zero) == (0.0, 1.0, 2, False)
    constant = paired([2.0, 3.0], [1.0, 2.0])
    assert constant.t == math.inf
    assert constant.p_value == 0.0
    assert constant.excludes_zero
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1.0], [1.0, 2.0])
