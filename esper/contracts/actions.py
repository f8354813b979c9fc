"""The typed action record every controller (heuristic or learned) hands to the engine.

An action is factored as in the prior system's eight heads: an operation, the slot it acts
on, and the parameters that matter for that operation. Values here are the *meanings*
(epochs, alpha values, curves), not head indices; a learned policy maps its head indices to
these values with the tables below, so both kinds of controller speak the same language.
"""

from __future__ import annotations

import enum

import attrs

from esper.lifecycle.alpha import AlphaAlgorithm, AlphaCurve


class Op(enum.IntEnum):
    WAIT = 0
    GERMINATE = 1
    SET_ALPHA_TARGET = 2
    PRUNE = 3
    FOSSILIZE = 4
    ADVANCE = 5


class Style(enum.IntEnum):
    """How a new seed blends in: the alpha curve of its ramp and the blend algorithm."""

    LINEAR_ADD = 0
    LINEAR_MULTIPLY = 1
    SIGMOID_ADD = 2
    GATED_GATE = 3

    @property
    def curve(self) -> AlphaCurve:
        return AlphaCurve.SIGMOID if self is Style.SIGMOID_ADD else AlphaCurve.LINEAR

    @property
    def algorithm(self) -> AlphaAlgorithm:
        return {
            Style.LINEAR_ADD: AlphaAlgorithm.ADD,
            Style.LINEAR_MULTIPLY: AlphaAlgorithm.MULTIPLY,
            Style.SIGMOID_ADD: AlphaAlgorithm.ADD,
            Style.GATED_GATE: AlphaAlgorithm.GATE,
        }[self]


#: Head tables (index -> value), shared with learned policies.
TEMPO_EPOCHS: tuple[int, ...] = (3, 5, 8)
ALPHA_TARGETS: tuple[float, ...] = (0.5, 0.7, 1.0)
ALPHA_SPEEDS: tuple[int, ...] = (0, 3, 5, 8)
ALPHA_CURVES: tuple[tuple[AlphaCurve, float], ...] = (
    (AlphaCurve.LINEAR, 12.0),
    (AlphaCurve.COSINE, 12.0),
    (AlphaCurve.SIGMOID, 6.0),
    (AlphaCurve.SIGMOID, 12.0),
    (AlphaCurve.SIGMOID, 24.0),
)


@attrs.frozen(kw_only=True)
class Action:
    """One decision. Fields that do not matter for ``op`` keep their canonical defaults."""

    op: Op = Op.WAIT
    slot: str | None = None
    blueprint: str | None = None
    style: Style = Style.LINEAR_ADD
    tempo: int = 5
    alpha_target: float = 1.0
    alpha_speed: int = 5
    alpha_curve: AlphaCurve = AlphaCurve.LINEAR
    steepness: float = 12.0
    #: Free-form reason, for logs and reports (e.g. "plateau for 3 epochs").
    reason: str = ""

    def __attrs_post_init__(self) -> None:
        if self.op is not Op.WAIT and self.slot is None:
            raise ValueError(f"{self.op.name} needs a slot")
        if self.op is Op.GERMINATE and not self.blueprint:
            raise ValueError("GERMINATE needs a blueprint")


WAIT = Action()
