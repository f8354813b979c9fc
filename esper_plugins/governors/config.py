"""Options of the default governor (the ``[governor]`` config table structures into this). No torch.

The defaults are the reference system's (divergence at 6 sigma, 3x the mean and an absolute
level, after 3 consecutive anomalies, over a 20-loss window with at least 10 samples; collapse
to a random guess at 6.5 % of L_rand after a mean below 60 % of it), except that the absolute
level scales with the task: ``max(absolute_floor, absolute_factor * L_rand)`` where ``L_rand =
ln(num_outputs)`` is the loss of a uniform guess. The reference used 12.0 for every task, which
sits barely above the random-guess loss of a GPT-2-vocabulary language model (ln 50257 = 10.8).
With the defaults every classification task and every language model with a vocabulary up to
about 3,000 tokens keeps 12.0; larger vocabularies get 1.5 x L_rand (16.2 for GPT-2).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
from attrs import validators as v

from esper.plugin import MAX_EPOCHS


def _number(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, got {value!r}")


def _integer(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an integer, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class DefaultGovernorConfig:
    """Thresholds of `esper_plugins.governors.default.DefaultGovernor`.

    A validation loss is a divergence *anomaly* only if it exceeds all three of: the absolute
    level, ``mean + sensitivity * std`` and ``multiplier * mean`` of the loss history.
    """

    #: k in ``mean + k * std`` (the reference's "6 sigma").
    sensitivity: float = attrs.field(default=6.0, validator=[_number, v.gt(0)])
    #: The absolute level is ``max(absolute_floor, absolute_factor * ln(num_outputs))``.
    absolute_floor: float = attrs.field(default=12.0, validator=[_number, v.ge(0)])
    absolute_factor: float = attrs.field(default=1.5, validator=[_number, v.ge(0)])
    #: An anomaly must also exceed ``multiplier * mean``.
    multiplier: float = attrs.field(default=3.0, validator=[_number, v.ge(1)])
    #: Normal losses kept for the statistics (oldest dropped first); one loss per epoch, so
    #: at most the longest run.
    history_window: int = attrs.field(default=20, validator=[_integer, v.ge(2), v.le(MAX_EPOCHS)])
    #: Below this many losses in the history there is no divergence or collapse check.
    min_samples: int = attrs.field(default=10, validator=[_integer, v.ge(2), v.le(MAX_EPOCHS)])
    #: Consecutive anomalies that make a divergence panic (a normal loss resets the count).
    min_panics: int = attrs.field(default=3, validator=[_integer, v.ge(1), v.le(MAX_EPOCHS)])
    #: Collapse ("lobotomy") needs a history mean below ``lobotomy_mean_fraction * L_rand`` ...
    lobotomy_mean_fraction: float = attrs.field(default=0.6, validator=[_number, v.gt(0), v.lt(1)])
    #: ... and a loss within ``lobotomy_tolerance * L_rand`` of L_rand.
    lobotomy_tolerance: float = attrs.field(default=0.065, validator=[_number, v.gt(0), v.lt(1)])
    #: Penalty a reward function may charge for a rollback (the reference's "death penalty",
    #: used as -10). The governor itself does not read it; RL runners do.
    death_penalty: float = attrs.field(default=10.0, validator=[_number, v.ge(0)])

    def __attrs_post_init__(self) -> None:
        if self.min_samples > self.history_window:
            raise ValueError(
                f"min_samples ({self.min_samples}) must be <= history_window ({self.history_window})"
            )
        # The collapse band around L_rand must stay above the history means it applies to,
        # or an ordinary loss no worse than a healthy mean could be called a collapse.
        if self.lobotomy_tolerance >= 1.0 - self.lobotomy_mean_fraction:
            raise ValueError(
                f"lobotomy_tolerance ({self.lobotomy_tolerance}) must be < 1 - "
                f"lobotomy_mean_fraction ({1.0 - self.lobotomy_mean_fraction:g})"
            )

    def absolute_threshold(self, random_guess_loss: float) -> float:
        """The absolute divergence level for a task whose uniform-guess loss is given."""
        return max(self.absolute_floor, self.absolute_factor * random_guess_loss)
