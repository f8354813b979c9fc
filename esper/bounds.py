"""Reusable attrs validators for numeric config options. No torch.

Every float option rejects NaN and +-inf (`finite`), and every int option has an upper bound
as well as a lower one: a value that type-checks but is absurd (``seed = 10**30``) must fail
when the config is loaded, with its key path, not later inside torch with a raw
``OverflowError``. Messages start with ``'field' must ...``, the form
`esper.config.loading` turns into ``config.<table>.<field>: must ...``.

Plugin config classes get these from `esper.plugin`::

    lr: float = attrs.field(default=1e-3, validator=[finite, v.gt(0)])
    width: int = attrs.field(default=64, validator=[v.ge(1), v.le(MAX_WIDTH)])
"""

from __future__ import annotations

import math
from typing import Any

import attrs

#: Largest run seed: the engine seeds generators with seed, seed + 1 and seed + 2, which
#: then all fit a signed 64-bit integer. (torch takes seeds up to 2**64 - 1, so the up to ~1e9
#: that training adds on top, 1009 per episode, still seeds cleanly.)
MAX_SEED = 2**63 - 3

#: Largest width of a layer (channels, embedding, hidden units) an option may ask for: far
#: beyond what fits in memory, but small enough that sizes derived from it stay int64.
MAX_WIDTH = 65_536

#: Largest epoch count an option may name: the longest run (``run.epochs``).
MAX_EPOCHS = 100_000


def is_finite_number(value: object) -> bool:
    """True for an int or float that is a finite float (not bool, NaN, +-inf or 10**400)."""
    # bool is an int subclass: `lr = true` is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range is no float either
        return False


def finite(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Reject NaN, +-inf, booleans and non-numbers (compose with ``v.optional`` for None)."""
    if not is_finite_number(value):
        raise ValueError(f"'{attribute.name}' must be a finite number, got {value!r}")


__all__ = ["MAX_EPOCHS", "MAX_SEED", "MAX_WIDTH", "finite", "is_finite_number"]
