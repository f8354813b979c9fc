"""Errors raised by the seed lifecycle.

`LifecycleError` covers input the lifecycle refuses: an unknown or retired stage value, a
corrupt or version-mismatched state record, an operation the current stage does not allow.
`IllegalTransition` is the special case of a stage change the transition table forbids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esper.errors import EsperError

if TYPE_CHECKING:
    from esper.lifecycle.stages import Stage


class LifecycleError(EsperError):
    """A seed-lifecycle value or operation was refused."""


class IllegalTransition(LifecycleError):
    """A stage change that the transition table does not allow.

    ``from_stage``, ``to_stage`` and ``seed_id`` name the refused move; the message also lists
    the stages that were legal from ``from_stage``.
    """

    def __init__(
        self,
        from_stage: Stage,
        to_stage: Stage,
        *,
        seed_id: str | None = None,
        legal: tuple[Stage, ...] = (),
        hint: str = "",
    ) -> None:
        self.from_stage = from_stage
        self.to_stage = to_stage
        self.seed_id = seed_id
        self.legal = legal
        who = f"seed {seed_id!r}: " if seed_id else ""
        allowed = ", ".join(s.name for s in legal) if legal else "none (terminal)"
        message = (
            f"{who}illegal stage transition {from_stage.name} -> {to_stage.name} "
            f"(legal from {from_stage.name}: {allowed})"
        )
        if hint:
            message += f"; {hint}"
        super().__init__(message)
