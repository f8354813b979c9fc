"""What a controller's observation holds: the names of its features and how they are scaled.

`BASE_FEATURES` describe the training run of one environment, `SLOT_FEATURES` one enabled
slot; `feature_size` is the width of an observation with them all. The constants below are
the scales and the sentinel that `esper.rl.observation` encodes with (the module docstring
there says how each feature is computed).
"""

from __future__ import annotations

import math

import torch

from esper.contracts.actions import Op
from esper.lifecycle import ONE_HOT_ORDER

#: Value of a measurement that has not been taken (outside every measured range but flags').
SENTINEL = -1.0
#: Validation losses and accuracies remembered in the observation.
HISTORY = 5
#: Divisor after symlog: keeps losses up to e^7 - 1 within [0, 1].
SYMLOG_SCALE = 7.0
#: Upper clamp of a scaled loss; a diverged (inf/NaN) loss reads as this.
LOSS_CAP = 2.0
#: Percent points that scale to 1 (contributions, velocities, accuracy changes).
PP_SCALE = 10.0
#: Blend ramp length (epochs) that scales to 1.
TEMPO_SCALE = 12.0
#: Plateau length (epochs) that scales to 1 (clamped above).
PLATEAU_SCALE = 10.0
#: Per-epoch decay of a contribution measurement's freshness.
FRESHNESS_DECAY = 0.995

BASE_FEATURES: tuple[str, ...] = (
    "epoch_fraction",
    "val_loss",
    "val_accuracy",
    *(f"loss_history_{i}" for i in range(HISTORY)),
    *(f"accuracy_history_{i}" for i in range(HISTORY)),
    "fraction_training",
    "fraction_blending",
    "fraction_holding_or_fossilized",
    "last_action_ok",
    *(f"last_op_{op.name.lower()}" for op in Op),
    "plateau",
    "host_stabilized",
    "accuracy_delta",
)

SLOT_FEATURES: tuple[str, ...] = (
    "occupied",
    *(f"stage_{stage.name.lower()}" for stage in ONE_HOT_ORDER),
    "alpha",
    "alpha_target",
    "alpha_mode",
    "alpha_steps_total",
    "alpha_steps_done",
    "alpha_time_to_target",
    "alpha_algorithm",
    "tempo",
    "contribution_measured",
    "contribution",
    "contribution_velocity_measured",
    "contribution_velocity",
    "contribution_freshness",
    "gradient_measured",
    "gradient_health",
    "previous_gradient_health",
    "gradient_norm",
    "has_vanishing",
    "has_exploding",
    "epochs_in_stage",
    "seed_age",
    "accuracy_measured",
    "improvement_in_stage",
    "total_improvement",
)

NUM_BASE = len(BASE_FEATURES)
NUM_SLOT = len(SLOT_FEATURES)


def feature_size(num_slots: int) -> int:
    """Width of ``features`` for ``num_slots`` enabled slots."""
    return NUM_BASE + NUM_SLOT * num_slots


def symlog(x: float) -> float:
    """``sign(x) * ln(1 + |x|)``: odd, monotone, ~x near 0 and ~ln|x| far out."""
    return math.copysign(math.log1p(abs(x)), x)


def symlog_tensor(x: torch.Tensor) -> torch.Tensor:
    """`symlog` element-wise."""
    return torch.sign(x) * torch.log1p(torch.abs(x))
