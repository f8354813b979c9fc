"""Seed lifecycle: stages, legal transitions, quality gates and cooldowns (plain Python, no torch).

* `Stage` and the transition table (`esper.lifecycle.stages`): where a seed can be and go.
* `QualityGates` / `GateConfig` / `GateResult` (`esper.lifecycle.gates`): what a seed must
  show before it advances.
* `SeedState` (`esper.lifecycle.state`): the per-seed record and the operations that move it
  (germinate, advance, transition, prune, tick), emitting the telemetry events of
  `esper.lifecycle.events`; its measurements (`esper.lifecycle.measurements`) and its
  plain-JSON form (`esper.lifecycle.persistence`).

The blend amplitude and its controller live in `esper.lifecycle.alpha`. Readers of the prior system:
this package answers Kasmina's lifecycle and Leyline's stage and gate contracts.
"""

from esper.lifecycle.errors import IllegalTransition, LifecycleError
from esper.lifecycle.events import (
    SeedFossilized,
    SeedGateEvaluated,
    SeedGerminated,
    SeedNonFinite,
    SeedPruned,
    SeedStageChanged,
)
from esper.lifecycle.gates import GATE_FOR_TARGET, GateConfig, GateLevel, GateResult, QualityGates
from esper.lifecycle.persistence import STATE_SCHEMA_VERSION
from esper.lifecycle.stages import (
    ACTIVE_STAGES,
    FAILURE_STAGES,
    ONE_HOT_ORDER,
    TERMINAL_STAGES,
    TRANSITIONS,
    Stage,
    check_transition,
    default_target,
    is_active,
    is_failure,
    is_legal_transition,
    is_terminal,
    legal_targets,
    one_hot,
    stage_index,
)
from esper.lifecycle.state import AUTO_PRUNE_REASONS, SeedState

__all__ = [
    "ACTIVE_STAGES",
    "AUTO_PRUNE_REASONS",
    "FAILURE_STAGES",
    "GATE_FOR_TARGET",
    "ONE_HOT_ORDER",
    "STATE_SCHEMA_VERSION",
    "TERMINAL_STAGES",
    "TRANSITIONS",
    "GateConfig",
    "GateLevel",
    "GateResult",
    "IllegalTransition",
    "LifecycleError",
    "QualityGates",
    "SeedFossilized",
    "SeedGateEvaluated",
    "SeedGerminated",
    "SeedNonFinite",
    "SeedPruned",
    "SeedStageChanged",
    "SeedState",
    "Stage",
    "check_transition",
    "default_target",
    "is_active",
    "is_failure",
    "is_legal_transition",
    "is_terminal",
    "legal_targets",
    "one_hot",
    "stage_index",
]
