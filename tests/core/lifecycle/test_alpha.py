"""Alpha controller: curves, monotone paths, exact arrival, HOLD-only retarget, round-trip."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.errors import EsperError
from esper.lifecycle.alpha import (
    ALPHA_SCHEMA_VERSION,
    AlphaAlgorithm,
    AlphaController,
    AlphaControllerError,
    AlphaCurve,
    AlphaMode,
    parse_algorithm,
    parse_curve,
    progress,
)

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
curves = st.sampled_from(list(AlphaCurve))
steepness = st.one_of(
    st.floats(min_value=0.1, max_value=100.0),
    st.sampled_from([0.1, 6.0, 12.0, 24.0, 1e3, 1e9, 1e300, 1.7e308]),
)


def _reference_sigmoid_progress(t: float, k: float) -> float:
    """The spec's formula with the textbook logistic (fine for moderate k)."""

    def sigma(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x))

    return (sigma(k * (t - 0.5)) - sigma(-k / 2)) / (sigma(k / 2) - sigma(-k / 2))


def _run(controller: AlphaController, ticks: int) -> list[tuple[float, bool]]:
    out = []
    for _ in range(ticks):
        arrived = controller.step()
        out.append((controller.alpha, arrived))
    return out


def test_enum_values_match_the_contract() -> None:
    assert [(m.name, m.value) for m in AlphaMode] == [("HOLD", 0), ("UP", 1), ("DOWN", 2)]
    assert [(c.name, c.value) for c in AlphaCurve] == [("LINEAR", 1), ("COSINE", 2), ("SIGMOID", 3)]
    assert [(a.name, a.value) for a in AlphaAlgorithm] == [("ADD", 1), ("MULTIPLY", 2), ("GATE", 3)]
    assert parse_curve("sigmoid") is AlphaCurve.SIGMOID
    assert parse_curve(2) is AlphaCurve.COSINE
    assert parse_algorithm("gate") is AlphaAlgorithm.GATE
    with pytest.raises(AlphaControllerError, match="unknown alpha curve"):
        parse_curve("bezier")
    with pytest.raises(AlphaControllerError):
        parse_curve(True)


@pytest.mark.parametrize("curve", list(AlphaCurve))
def test_progress_endpoints_and_midpoint(curve: AlphaCurve) -> None:
    for k in (0.1, 6.0, 12.0, 24.0, 1e6):
        assert progress(curve, 0.0, k) == 0.0
        assert progress(curve, 1.0, k) == 1.0
        assert progress(curve, 0.5, k) == pytest.approx(0.5, abs=1e-15)


def test_progress_values() -> None:
    assert progress(AlphaCurve.LINEAR, 0.3) == 0.3
    assert progress(AlphaCurve.COSINE, 0.25) == pytest.approx(0.5 * (1 - math.cos(math.pi / 4)))
    for k in (0.1, 1.0, 6.0, 12.0, 24.0, 60.0):
        for t in (0.05, 0.25, 0.4, 0.6, 0.75, 0.95):
            assert progress(AlphaCurve.SIGMOID, t, k) == pytest.approx(
                _reference_sigmoid_progress(t, k), rel=1e-12, abs=1e-12
            )
    # k=12 at t=1/4: a concrete number, so a wrong formula cannot hide behind symmetry.
    assert progress(AlphaCurve.SIGMOID, 0.25, 12.0) == pytest.approx(0.045177, abs=1e-6)
    # Tiny steepness is nearly linear; huge steepness is a step at t=1/2.
    assert progress(AlphaCurve.SIGMOID, 0.3, 0.1) == pytest.approx(0.3, abs=1e-3)
    assert progress(AlphaCurve.SIGMOID, 0.49, 1e300) == 0.0
    assert progress(AlphaCurve.SIGMOID, 0.51, 1.7e308) == 1.0


@given(t=unit, k=steepness)
def test_sigmoid_progress_is_finite_for_any_steepness(t: float, k: float) -> None:
    p = progress(AlphaCurve.SIGMOID, t, k)
    assert math.isfinite(p)
    assert 0.0 <= p <= 1.0


def test_linear_trajectory_numbers() -> None:
    ctl = AlphaController()
    ctl.retarget(1.0, 4)
    assert ctl.mode is AlphaMode.UP
    assert _run(ctl, 5) == [(0.25, False), (0.5, False), (0.75, False), (1.0, True), (1.0, False)]
    assert ctl.mode is AlphaMode.HOLD
    assert (ctl.steps_done, ctl.steps_total) == (4, 4)


def test_down_trajectory_and_cosine_numbers() -> None:
    ctl = AlphaController(1.0)
    ctl.retarget(0.0, 2, AlphaCurve.COSINE)
    assert ctl.mode is AlphaMode.DOWN
    assert ctl.step() is False
    assert ctl.alpha == pytest.approx(0.5)
    assert ctl.step() is True
    assert ctl.alpha == 0.0


def test_zero_steps_and_same_target_snap_and_hold() -> None:
    ctl = AlphaController(0.2)
    ctl.retarget(0.7, 0)
    assert (ctl.alpha, ctl.mode, ctl.steps_total) == (0.7, AlphaMode.HOLD, 0)
    ctl.retarget(0.7, 5)
    assert (ctl.alpha, ctl.mode, ctl.steps_remaining) == (0.7, AlphaMode.HOLD, 0)
    assert ctl.step() is False
    assert ctl.alpha == 0.7


def test_retarget_only_from_hold() -> None:
    ctl = AlphaController()
    ctl.retarget(1.0, 3)
    ctl.step()
    with pytest.raises(AlphaControllerError, match="cannot retarget alpha while moving UP"):
        ctl.retarget(0.5, 2)
    assert isinstance(AlphaControllerError("x"), EsperError)
    ctl.step()
    ctl.step()
    ctl.retarget(0.5, 2)  # holding again: legal
    assert ctl.mode is AlphaMode.DOWN


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 1.5, "steps": 2}, "within"),
        ({"target": -0.1, "steps": 2}, "within"),
        ({"target": math.nan, "steps": 2}, "within"),
        ({"target": 1.0, "steps": -1}, "steps"),
        ({"target": 1.0, "steps": True}, "steps"),
        ({"target": 1.0, "steps": 2.0}, "steps"),
        ({"target": 1.0, "steps": 2, "steepness": 0.05}, "steepness"),
        ({"target": 1.0, "steps": 2, "steepness": math.inf}, "steepness"),
        ({"target": 1.0, "steps": 2, "curve": "spline"}, "curve"),
    ],
)
def test_retarget_validates(kwargs: dict[str, object], message: str) -> None:
    ctl = AlphaController()
    with pytest.raises(AlphaControllerError, match=message):
        ctl.retarget(**kwargs)  # type: ignore[arg-type]
    assert ctl == AlphaController()  # a refused retarget changes nothing


def test_reset_abandons_a_move() -> None:
    ctl = AlphaController()
    ctl.retarget(1.0, 10, AlphaCurve.SIGMOID)
    ctl.step()
    ctl.reset(0.0)
    assert ctl == AlphaController(0.0)
    with pytest.raises(AlphaControllerError):
        AlphaController(1.01)


@settings(max_examples=200)
@given(
    start=unit,
    target=unit,
    steps=st.integers(min_value=1, max_value=40),
    curve=curves,
    k=steepness,
)
def test_trajectory_monotone_bounded_and_exact(
    start: float, target: float, steps: int, curve: AlphaCurve, k: float
) -> None:
    ctl = AlphaController(start)
    ctl.retarget(target, steps, curve, k)
    lo, hi = min(start, target), max(start, target)
    previous = start
    for tick in range(1, steps + 1):
        arrived = ctl.step()
        assert arrived is (tick == steps and start != target)
        assert lo <= ctl.alpha <= hi
        if target >= start:
            assert ctl.alpha >= previous
        else:
            assert ctl.alpha <= previous
        previous = ctl.alpha
    assert ctl.alpha == target  # exact, not approximately
    assert ctl.mode is AlphaMode.HOLD
    assert ctl.step() is False
    assert ctl.alpha == target


@settings(max_examples=150)
@given(
    start=unit,
    target=unit,
    steps=st.integers(min_value=1, max_value=30),
    curve=curves,
    k=steepness,
    cut=st.integers(min_value=0, max_value=30),
)
def test_round_trip_mid_trajectory_continues_bit_identically(
    start: float, target: float, steps: int, curve: AlphaCurve, k: float, cut: int
) -> None:
    ctl = AlphaController(start)
    ctl.retarget(target, steps, curve, k)
    _run(ctl, min(cut, steps))
    restored = AlphaController.from_dict(json.loads(json.dumps(ctl.to_dict())))
    assert restored == ctl
    remaining = steps - min(cut, steps) + 2
    original = [(a.hex(), done) for a, done in _run(ctl, remaining)]
    copy = [(a.hex(), done) for a, done in _run(restored, remaining)]
    assert copy == original


def test_to_dict_is_plain_and_versioned() -> None:
    ctl = AlphaController(0.25)
    ctl.retarget(0.75, 3, "sigmoid", 6.0)
    data = ctl.to_dict()
    assert data == {
        "schema": ALPHA_SCHEMA_VERSION,
        "alpha": 0.25,
        "start": 0.25,
        "target": 0.75,
        "mode": "UP",
        "curve": "SIGMOID",
        "steepness": 6.0,
        "steps_total": 3,
        "steps_done": 0,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": 2}, "schema"),
        ({"bogus": 1}, "unknown keys"),
        ({"alpha": math.nan}, "alpha"),
        ({"alpha": 0.9}, "outside"),  # beyond the UP segment 0.25 -> 0.75
        ({"mode": "DOWN"}, "does not match"),
        ({"mode": "SIDEWAYS"}, "unknown alpha mode"),
        ({"steps_done": 4}, "steps_done exceeds"),
        ({"steps_done": 3}, "no ticks left"),
        ({"steepness": 0.0}, "steepness"),
        ({"mode": "HOLD"}, "holding but alpha differs"),
    ],
)
def test_from_dict_rejects_bad_records(change: dict[str, object], message: str) -> None:
    ctl = AlphaController(0.25)
    ctl.retarget(0.75, 3, "sigmoid", 6.0)
    data = ctl.to_dict() | change
    with pytest.raises(AlphaControllerError, match=message):
        AlphaController.from_dict(data)


def test_from_dict_rejects_missing_key_and_non_dict() -> None:
    data = AlphaController().to_dict()
    del data["curve"]
    with pytest.raises(AlphaControllerError, match=r"missing keys \['curve'\]"):
        AlphaController.from_dict(data)
    with pytest.raises(AlphaControllerError, match="must be a dict"):
        AlphaController.from_dict([1, 2])


def test_never_steps_backwards_from_a_restored_alpha_ahead_of_its_curve() -> None:
    # A record written by another curve version can be ahead of this curve; alpha must then
    # wait rather than move away from the target.
    ctl = AlphaController(0.0)
    ctl.retarget(1.0, 4)
    ctl.step()
    ahead = AlphaController.from_dict(ctl.to_dict() | {"alpha": 0.9})
    assert [(ahead.step(), ahead.alpha) for _ in range(3)] == [
        (False, 0.9),
        (False, 0.9),
        (True, 1.0),
    ]
    down = AlphaController(1.0)
    down.retarget(0.0, 4)
    down.step()
    behind = AlphaController.from_dict(down.to_dict() | {"alpha": 0.1})
    behind.step()
    assert behind.alpha == 0.1
