"""Seed stages and the table of legal moves between them.

A seed lives in one slot of a host model and moves through these stages::

    DORMANT -> GERMINATED -> TRAINING -> BLENDING -> HOLDING -> FOSSILIZED
    HOLDING -> BLENDING                      (partial retarget, or blend-out before a prune)
    GERMINATED | TRAINING | BLENDING | HOLDING -> PRUNED -> EMBARGOED -> RESETTING -> DORMANT

* GERMINATED: the seed module exists but is not executed.
* TRAINING: the seed learns from the host's loss without changing the host's output (alpha 0).
* BLENDING: alpha ramps the seed's output into the host's.
* HOLDING: fully blended (alpha 1), waiting for a fossilize or prune decision.
* FOSSILIZED: permanently part of the model (terminal).
* PRUNED -> EMBARGOED -> RESETTING: the cooldown after removal; the slot is free again once the
  seed is back at DORMANT.

Values are stable integers (they appear in checkpoints and observations). Value 5 belonged to
a retired stage (SHADOWING) and is refused wherever a stage enters the system: use
`Stage.parse` on any int or string that did not come from this enum.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType

from esper.lifecycle.errors import IllegalTransition, LifecycleError

#: Version of the stage numbering and one-hot layout; bump if either ever changes.
STAGE_SCHEMA_VERSION = 1

_RETIRED_VALUES = {5: "SHADOWING"}


class Stage(IntEnum):
    """Lifecycle stage of a seed. Value 5 is retired and never valid."""

    UNKNOWN = 0
    DORMANT = 1
    GERMINATED = 2
    TRAINING = 3
    BLENDING = 4
    HOLDING = 6
    FOSSILIZED = 7
    PRUNED = 8
    EMBARGOED = 9
    RESETTING = 10

    @classmethod
    def parse(cls, value: object) -> Stage:
        """Turn a stage, its integer value or its name (any case, or decimal digits) into a Stage.

        Raises `LifecycleError` for the retired value 5 / ``"SHADOWING"``, for unknown values
        and for other types (bools and floats included, which are never stage values).
        """
        if isinstance(value, Stage):
            return value
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise LifecycleError(
                f"a stage must be a Stage, an int or a str, got {type(value).__name__} {value!r}"
            )
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return cls.parse(int(text))
            name = text.upper()
            if name in cls.__members__:
                return cls[name]
            for number, retired in _RETIRED_VALUES.items():
                if name == retired:
                    raise LifecycleError(_retired_message(number))
            raise LifecycleError(f"unknown stage name {value!r} (known: {_known()})")
        if value in _RETIRED_VALUES:
            raise LifecycleError(_retired_message(value))
        try:
            return cls(value)
        except ValueError:
            raise LifecycleError(f"unknown stage value {value} (known: {_known()})") from None


def _retired_message(value: int) -> str:
    return (
        f"stage value {value} ({_RETIRED_VALUES[value]}) is retired and no longer valid; "
        "this record comes from an incompatible version"
    )


def _known() -> str:
    return ", ".join(f"{s.name}={s.value}" for s in Stage)


# First target listed = the default "advance" target of that stage.
TRANSITIONS: Mapping[Stage, tuple[Stage, ...]] = MappingProxyType(
    {
        Stage.UNKNOWN: (Stage.DORMANT,),
        Stage.DORMANT: (Stage.GERMINATED,),
        Stage.GERMINATED: (Stage.TRAINING, Stage.PRUNED),
        Stage.TRAINING: (Stage.BLENDING, Stage.PRUNED),
        Stage.BLENDING: (Stage.HOLDING, Stage.PRUNED),
        Stage.HOLDING: (Stage.FOSSILIZED, Stage.BLENDING, Stage.PRUNED),
        Stage.FOSSILIZED: (),
        Stage.PRUNED: (Stage.EMBARGOED,),
        Stage.EMBARGOED: (Stage.RESETTING,),
        Stage.RESETTING: (Stage.DORMANT,),
    }
)

TERMINAL_STAGES: frozenset[Stage] = frozenset({Stage.FOSSILIZED})
#: Stages whose seed output is on the forward path.
ACTIVE_STAGES: frozenset[Stage] = frozenset(
    {Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED}
)
#: The removal cooldown.
FAILURE_STAGES: frozenset[Stage] = frozenset({Stage.PRUNED, Stage.EMBARGOED, Stage.RESETTING})

#: Order of the one-hot stage encoding. Index != value from HOLDING on (value 5 is retired).
ONE_HOT_ORDER: tuple[Stage, ...] = (
    Stage.UNKNOWN,
    Stage.DORMANT,
    Stage.GERMINATED,
    Stage.TRAINING,
    Stage.BLENDING,
    Stage.HOLDING,
    Stage.FOSSILIZED,
    Stage.PRUNED,
    Stage.EMBARGOED,
    Stage.RESETTING,
)
NUM_STAGES = len(ONE_HOT_ORDER)
_INDEX = {stage: i for i, stage in enumerate(ONE_HOT_ORDER)}


def is_terminal(stage: Stage) -> bool:
    """True for stages with no way out (FOSSILIZED)."""
    return stage in TERMINAL_STAGES


def is_active(stage: Stage) -> bool:
    """True when the seed's output is on the forward path (TRAINING to FOSSILIZED)."""
    return stage in ACTIVE_STAGES


def is_failure(stage: Stage) -> bool:
    """True for the removal cooldown stages (PRUNED, EMBARGOED, RESETTING)."""
    return stage in FAILURE_STAGES


def legal_targets(stage: Stage) -> tuple[Stage, ...]:
    """The stages reachable from ``stage`` in one move, default advance target first."""
    return TRANSITIONS[Stage.parse(stage)]


def default_target(stage: Stage) -> Stage | None:
    """The default "advance" target of ``stage``, or None for a terminal stage."""
    targets = legal_targets(stage)
    return targets[0] if targets else None


def is_legal_transition(from_stage: Stage, to_stage: Stage) -> bool:
    return Stage.parse(to_stage) in TRANSITIONS[Stage.parse(from_stage)]


def check_transition(from_stage: Stage, to_stage: Stage, *, seed_id: str | None = None) -> None:
    """Raise `IllegalTransition` unless ``from_stage -> to_stage`` is in the table."""
    source, target = Stage.parse(from_stage), Stage.parse(to_stage)
    if target not in TRANSITIONS[source]:
        raise IllegalTransition(source, target, seed_id=seed_id, legal=TRANSITIONS[source])


def stage_index(stage: Stage) -> int:
    """Position of ``stage`` in the one-hot encoding (0..9)."""
    return _INDEX[Stage.parse(stage)]


def one_hot(stage: Stage) -> tuple[float, ...]:
    """The 10-dim one-hot encoding of ``stage`` in `ONE_HOT_ORDER`."""
    index = stage_index(stage)
    return tuple(1.0 if i == index else 0.0 for i in range(NUM_STAGES))
