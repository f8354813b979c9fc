"""Alpha: how much of a seed's output is blended into the host's, and the controller that moves it.

A slot combines host features ``h`` and seed output ``s`` with an amplitude alpha in [0, 1]
(alpha 0 = host only, 1 = seed fully blended; how they combine is the `AlphaAlgorithm`).
Alpha never jumps on its own: an `AlphaController` moves it from where it is to a target over
a fixed number of ticks (one tick per epoch) along an `AlphaCurve`, then holds it there.

The controller is plain Python: values are Python floats, and the torch side copies
`AlphaController.alpha` into a tensor buffer after each tick, so reading alpha in ``forward``
never depends on Python state that would trip ``torch.compile`` guards.

Guarantees (tested): while moving, alpha changes monotonically toward the target and stays
within [start, target]; after exactly ``steps`` ticks it equals the target bit-for-bit and the
controller holds; ``to_dict``/``from_dict`` in mid-trajectory reproduce the remaining ticks
bit-identically.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Any, TypeVar

from esper.errors import EsperError

#: Version of the `AlphaController.to_dict` layout.
ALPHA_SCHEMA_VERSION = 1
MIN_STEEPNESS = 0.1
#: Steepness of the default ("SIGMOID") curve; the action space also offers 6 and 24.
DEFAULT_STEEPNESS = 12.0


class AlphaControllerError(EsperError):
    """The controller refused an operation (retarget while moving) or a corrupt state record."""


class AlphaMode(IntEnum):
    """Direction the controller is moving alpha in; HOLD = not moving."""

    HOLD = 0
    UP = 1
    DOWN = 2


class AlphaCurve(IntEnum):
    """Shape of the path from start to target, as progress p(t) over t in [0, 1]."""

    LINEAR = 1
    COSINE = 2
    SIGMOID = 3


class AlphaAlgorithm(IntEnum):
    """How the slot combines host and seed at a given alpha.

    ADD: ``h + alpha * (s - h)``. MULTIPLY: ``h * (1 + alpha * tanh(s - x))`` (a valve around
    the seed input x). GATE: ADD with alpha scaled per sample by a learned gate in [0, 1].
    """

    ADD = 1
    MULTIPLY = 2
    GATE = 3


_Enum = TypeVar("_Enum", bound=IntEnum)


def _parse_enum(cls: type[_Enum], value: object, what: str) -> _Enum:
    if isinstance(value, cls):
        return value
    if isinstance(value, str) and value.strip().upper() in cls.__members__:
        return cls[value.strip().upper()]
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return cls(value)
        except ValueError:
            pass
    known = ", ".join(member.name for member in cls)
    raise AlphaControllerError(f"unknown {what} {value!r} (known: {known})")


def parse_curve(value: object) -> AlphaCurve:
    """An `AlphaCurve` from itself, its value or its name (any case)."""
    return _parse_enum(AlphaCurve, value, "alpha curve")


def parse_mode(value: object) -> AlphaMode:
    """An `AlphaMode` from itself, its value or its name (any case)."""
    return _parse_enum(AlphaMode, value, "alpha mode")


def parse_algorithm(value: object) -> AlphaAlgorithm:
    """An `AlphaAlgorithm` from itself, its value or its name (any case)."""
    return _parse_enum(AlphaAlgorithm, value, "alpha algorithm")


def progress(curve: AlphaCurve, t: float, steepness: float = DEFAULT_STEEPNESS) -> float:
    """Fraction of the way from start to target at time ``t`` in [0, 1]; 0 at t=0, 1 at t=1.

    LINEAR: ``t``. COSINE: ``(1 - cos(pi t)) / 2``. SIGMOID with steepness k: the logistic
    ``sigma(k (t - 1/2))`` rescaled so that t=0 maps to 0 and t=1 to 1.
    """
    t = min(1.0, max(0.0, t))
    if curve is AlphaCurve.LINEAR:
        return t
    if curve is AlphaCurve.COSINE:
        return 0.5 * (1.0 - math.cos(math.pi * t))
    # sigma(x) = (1 + tanh(x/2)) / 2, so the rescaled logistic is
    # (tanh(k(t-1/2)/2) + tanh(k/4)) / (2 tanh(k/4)). tanh saturates instead of overflowing,
    # so this is finite for every finite k >= MIN_STEEPNESS, however large.
    half_span = math.tanh(steepness / 4.0)
    p = (math.tanh(steepness * (t - 0.5) / 2.0) + half_span) / (2.0 * half_span)
    return min(1.0, max(0.0, p))


def _check_unit(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlphaControllerError(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise AlphaControllerError(f"{what} must be within [0, 1], got {value!r}")
    return number


def _check_steps(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AlphaControllerError(f"{what} must be an int >= 0, got {value!r}")
    return value


def _check_steepness(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlphaControllerError(f"steepness must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < MIN_STEEPNESS:
        raise AlphaControllerError(
            f"steepness must be finite and >= {MIN_STEEPNESS}, got {value!r}"
        )
    return number


_FIELDS = (
    "schema",
    "alpha",
    "start",
    "target",
    "mode",
    "curve",
    "steepness",
    "steps_total",
    "steps_done",
)


class AlphaController:
    """Moves alpha from its current value to a target over a number of ticks, then holds.

    A new controller holds at ``alpha`` (default 0). `retarget` starts a move (only while
    holding); `step` advances it one tick; `reset` forces a hold at a value (used when a seed
    is pruned or finishes blending).
    """

    __slots__ = (
        "_alpha",
        "_curve",
        "_mode",
        "_start",
        "_steepness",
        "_steps_done",
        "_steps_total",
        "_target",
    )

    def __init__(self, alpha: float = 0.0) -> None:
        self._alpha = self._start = self._target = 0.0
        self._mode = AlphaMode.HOLD
        self._curve = AlphaCurve.LINEAR
        self._steepness = DEFAULT_STEEPNESS
        self._steps_total = self._steps_done = 0
        self.reset(alpha)

    # -- read-only state ------------------------------------------------------------------

    @property
    def alpha(self) -> float:
        return self._alpha

    @property
    def start(self) -> float:
        """Alpha when the current (or last) move began."""
        return self._start

    @property
    def target(self) -> float:
        return self._target

    @property
    def mode(self) -> AlphaMode:
        return self._mode

    @property
    def curve(self) -> AlphaCurve:
        return self._curve

    @property
    def steepness(self) -> float:
        return self._steepness

    @property
    def steps_total(self) -> int:
        return self._steps_total

    @property
    def steps_done(self) -> int:
        return self._steps_done

    @property
    def steps_remaining(self) -> int:
        """Ticks until the target is reached (0 while holding)."""
        return 0 if self._mode is AlphaMode.HOLD else self._steps_total - self._steps_done

    @property
    def holding(self) -> bool:
        return self._mode is AlphaMode.HOLD

    # -- operations -----------------------------------------------------------------------

    def retarget(
        self,
        target: float,
        steps: int,
        curve: AlphaCurve | str = AlphaCurve.LINEAR,
        steepness: float = DEFAULT_STEEPNESS,
    ) -> None:
        """Start moving from the current alpha to ``target`` over ``steps`` ticks.

        Only legal while holding (`AlphaControllerError` otherwise: a move in progress is
        never redirected). ``steps == 0``, or a target equal to the current alpha, snaps to
        the target and keeps holding.
        """
        if self._mode is not AlphaMode.HOLD:
            raise AlphaControllerError(
                f"cannot retarget alpha while moving {self._mode.name} "
                f"({self._steps_done}/{self._steps_total} ticks done, "
                f"{self._alpha} -> {self._target}); wait until it holds"
            )
        new_target = _check_unit(target, "alpha target")
        n_steps = _check_steps(steps, "steps")
        new_curve = parse_curve(curve)
        k = _check_steepness(steepness)
        self._start = self._alpha
        self._target = new_target
        self._curve = new_curve
        self._steepness = k
        self._steps_done = 0
        if n_steps == 0 or new_target == self._alpha:
            self._alpha = new_target
            self._steps_total = 0
            self._mode = AlphaMode.HOLD
        else:
            self._steps_total = n_steps
            self._mode = AlphaMode.UP if new_target > self._alpha else AlphaMode.DOWN

    def step(self) -> bool:
        """Advance one tick. Returns True on the tick that reaches the target.

        A holding controller does nothing and returns False.
        """
        if self._mode is AlphaMode.HOLD:
            return False
        self._steps_done += 1
        if self._steps_done >= self._steps_total:
            self._alpha = self._target
            self._mode = AlphaMode.HOLD
            return True
        p = progress(self._curve, self._steps_done / self._steps_total, self._steepness)
        value = self._start + (self._target - self._start) * p
        # Clamp to the segment and never step backwards: rounding in cos/tanh must not
        # produce a tick that moves away from the target or past it.
        if self._mode is AlphaMode.UP:
            value = min(self._target, max(self._alpha, value))
        else:
            value = max(self._target, min(self._alpha, value))
        self._alpha = value
        return False

    def reset(self, alpha: float = 0.0) -> None:
        """Hold at ``alpha`` now, abandoning any move in progress (as a new controller would)."""
        value = _check_unit(alpha, "alpha")
        self._alpha = self._start = self._target = value
        self._mode = AlphaMode.HOLD
        self._curve = AlphaCurve.LINEAR
        self._steepness = DEFAULT_STEEPNESS
        self._steps_total = self._steps_done = 0

    # -- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON state; `from_dict` restores it exactly (floats round-trip via JSON)."""
        return {
            "schema": ALPHA_SCHEMA_VERSION,
            "alpha": self._alpha,
            "start": self._start,
            "target": self._target,
            "mode": self._mode.name,
            "curve": self._curve.name,
            "steepness": self._steepness,
            "steps_total": self._steps_total,
            "steps_done": self._steps_done,
        }

    @classmethod
    def from_dict(cls, data: object) -> AlphaController:
        """Rebuild a controller from `to_dict` output, refusing anything inconsistent."""
        if not isinstance(data, dict):
            raise AlphaControllerError(
                f"alpha controller state must be a dict, got {type(data).__name__}"
            )
        if data.get("schema") != ALPHA_SCHEMA_VERSION:
            raise AlphaControllerError(
                f"alpha controller state has schema {data.get('schema')!r}, "
                f"expected {ALPHA_SCHEMA_VERSION}"
            )
        missing = [key for key in _FIELDS if key not in data]
        extra = sorted(str(key) for key in data if key not in _FIELDS)
        if missing or extra:
            raise AlphaControllerError(
                f"alpha controller state: missing keys {missing}, unknown keys {extra}"
            )
        controller = cls(_check_unit(data["alpha"], "alpha"))
        controller._start = _check_unit(data["start"], "start")
        controller._target = _check_unit(data["target"], "target")
        controller._mode = parse_mode(data["mode"])
        controller._curve = parse_curve(data["curve"])
        controller._steepness = _check_steepness(data["steepness"])
        controller._steps_total = _check_steps(data["steps_total"], "steps_total")
        controller._steps_done = _check_steps(data["steps_done"], "steps_done")
        controller._check_consistent()
        return controller

    def _check_consistent(self) -> None:
        problem = ""
        if self._steps_done > self._steps_total:
            problem = "steps_done exceeds steps_total"
        elif self._mode is AlphaMode.HOLD:
            if self._alpha != self._target:
                problem = "holding but alpha differs from target"
        elif self._steps_done >= self._steps_total:
            problem = "moving but no ticks left"
        else:
            lo, hi = sorted((self._start, self._target))
            rising = self._target > self._start
            if rising != (self._mode is AlphaMode.UP) or self._start == self._target:
                problem = f"mode {self._mode.name} does not match {self._start} -> {self._target}"
            elif not lo <= self._alpha <= hi:
                problem = f"alpha {self._alpha} outside [{lo}, {hi}]"
        if problem:
            raise AlphaControllerError(f"inconsistent alpha controller state: {problem}")

    # -- value semantics ------------------------------------------------------------------

    def _key(self) -> tuple[float, float, float, AlphaMode, AlphaCurve, float, int, int]:
        return (
            self._alpha,
            self._start,
            self._target,
            self._mode,
            self._curve,
            self._steepness,
            self._steps_total,
            self._steps_done,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AlphaController):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable: equal now, different after step()

    def __repr__(self) -> str:
        return (
            f"AlphaController(alpha={self._alpha!r}, target={self._target!r}, "
            f"mode={self._mode.name}, curve={self._curve.name}, steepness={self._steepness!r}, "
            f"steps={self._steps_done}/{self._steps_total})"
        )
