"""Shapley attribution over slots, computed once at the end of an episode.

A *coalition* is the set of slots whose seeds are kept ON (at their current alpha); every other
considered slot is forced to alpha 0. The environment turns each coalition into an alpha
override with `alpha_overrides`, evaluates all of them in one `MorphogeneticModel.fused_forward`
pass, and hands the resulting accuracies (``value[coalition]``) to `shapley`::

    coalitions = coalition_configs(slots, seed=env_seed)
    configs = [alpha_overrides(c, slots) for c in coalitions]   # fused_forward(x, configs)
    value = dict(zip(coalitions, accuracies))
    estimates = shapley(slots, value, seed=env_seed)
    pairs = interactions(slots, value)

With ``n <= max_exact`` slots every one of the 2^n coalitions is evaluated and the Shapley value
is exact. Beyond that, the configurations are the ablation set (full, empty, each slot solo-off
and solo-on) plus every prefix of ``samples`` random permutations drawn in antithetic pairs (a
permutation and its reverse) from ``random.Random(seed)``; `shapley` then averages the marginals
``f(prefix + i) - f(prefix)`` over those permutations. `coalition_configs` and `shapley` draw the
same permutations when given the same ``slots`` (same order), ``samples`` and ``seed``.

Caveat: these numbers measure *removal cost at time T*. The host has spent the episode adapting
to the seeds that were present, so switching a seed off also removes whatever the host learned
to expect from it. A large value says "the network as trained now relies on this slot", not
"this seed caused this much of the improvement"; it is not a causal contribution.

Pure Python (no torch), so it can be tested and reused without a model.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence

import attrs

#: Most permutations ever sampled, whatever ``samples`` asks for.
MAX_PERMUTATIONS = 100


@attrs.frozen(kw_only=True)
class ShapleyEstimate:
    """One slot's Shapley value.

    ``mean`` is the value (exact, or the average sampled marginal); ``std`` the standard
    deviation of the sampled marginals (0.0 when exact or with a single sample); ``samples``
    the number of marginals averaged (for the exact formula, the 2^(n-1) coalitions without
    the slot); ``exact`` whether the full-factorial formula was used.
    """

    mean: float
    std: float
    samples: int
    exact: bool


def _check_slots(slots: Sequence[str]) -> list[str]:
    order = list(slots)
    if len(set(order)) != len(order):
        raise ValueError(f"slots must be unique, got {order}")
    return order


def _check_params(max_exact: int, samples: int) -> None:
    if max_exact < 0:
        raise ValueError(f"max_exact must be >= 0, got {max_exact}")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")


def _name(coalition: frozenset[str], order: Sequence[str]) -> str:
    """Readable coalition name in slot order ("{}" for the empty coalition)."""
    return "{" + ", ".join(s for s in order if s in coalition) + "}"


def sample_permutations(slots: Sequence[str], *, samples: int, seed: int) -> list[tuple[str, ...]]:
    """``min(samples, MAX_PERMUTATIONS)`` slot orders in antithetic pairs.

    Entries ``2k`` and ``2k + 1`` are a shuffled order and its reverse (an odd count ends with
    an unpaired permutation). The reverse pairs every early position with a late one, which
    cancels much of the position-dependent variance of the marginals.
    """
    order = _check_slots(slots)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    count = min(samples, MAX_PERMUTATIONS)
    rng = random.Random(seed)
    perms: list[tuple[str, ...]] = []
    while len(perms) < count:
        perm = order.copy()
        rng.shuffle(perm)
        perms.append(tuple(perm))
        if len(perms) < count:
            perms.append(tuple(reversed(perm)))
    return perms


def coalition_configs(
    slots: Sequence[str], *, max_exact: int = 4, samples: int = 20, seed: int
) -> list[frozenset[str]]:
    """The coalitions (sets of slots kept ON) to evaluate, without duplicates.

    The full coalition comes first (it is the unmodified model, config 0 of a fused pass) and the
    empty one is always included. For ``n <= max_exact`` slots: all 2^n coalitions, by size then
    slot order. Otherwise: full, empty, each solo-off, each solo-on, then every prefix of the
    permutations from `sample_permutations`, in first-seen order.
    """
    order = _check_slots(slots)
    _check_params(max_exact, samples)
    full = frozenset(order)
    found: dict[frozenset[str], None] = {full: None}  # dict keeps first-seen order
    n = len(order)
    if n <= max_exact:
        for size in range(n + 1):
            for combo in itertools.combinations(order, size):
                found.setdefault(frozenset(combo), None)
        return list(found)
    found.setdefault(frozenset(), None)
    for slot in order:
        found.setdefault(full - {slot}, None)
    for slot in order:
        found.setdefault(frozenset((slot,)), None)
    for perm in sample_permutations(order, samples=samples, seed=seed):
        for k in range(n + 1):
            found.setdefault(frozenset(perm[:k]), None)
    return list(found)


def alpha_overrides(coalition: frozenset[str], slots: Sequence[str]) -> dict[str, float]:
    """The `fused_forward` config for ``coalition``: alpha 0.0 for each slot outside it.

    Slots in the coalition are not named, so they keep their current alpha.
    """
    order = _check_slots(slots)
    unknown = set(coalition) - set(order)
    if unknown:
        raise ValueError(f"coalition names slot(s) {sorted(unknown)} not in {order}")
    return {slot: 0.0 for slot in order if slot not in coalition}


def _exact(order: list[str], value: Mapping[frozenset[str], float]) -> dict[str, ShapleyEstimate]:
    n = len(order)
    # Check every coalition first so the error names a missing one, not a KeyError mid-sum.
    for size in range(n + 1):
        for combo in itertools.combinations(order, size):
            coalition = frozenset(combo)
            if coalition not in value:
                raise ValueError(
                    f"exact Shapley needs coalition {_name(coalition, order)}, "
                    "which was not evaluated"
                )
    weights = [
        math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n) for size in range(n)
    ]
    result: dict[str, ShapleyEstimate] = {}
    for slot in order:
        others = [s for s in order if s != slot]
        total = 0.0
        for size in range(n):
            for combo in itertools.combinations(others, size):
                without = frozenset(combo)
                total += weights[size] * (value[without | {slot}] - value[without])
        result[slot] = ShapleyEstimate(mean=total, std=0.0, samples=2 ** (n - 1), exact=True)
    return result


def _sampled(
    order: list[str], value: Mapping[frozenset[str], float], *, samples: int, seed: int
) -> dict[str, ShapleyEstimate]:
    marginals: dict[str, list[float]] = {slot: [] for slot in order}
    for perm in sample_permutations(order, samples=samples, seed=seed):
        prefix: frozenset[str] = frozenset()
        for slot in perm:
            grown = prefix | {slot}
            # Skip marginals whose coalitions were not evaluated rather than guess them.
            if prefix in value and grown in value:
                marginals[slot].append(value[grown] - value[prefix])
            prefix = grown
    result: dict[str, ShapleyEstimate] = {}
    for slot, values in marginals.items():
        if not values:
            raise ValueError(
                f"no sampled permutation has both coalitions around slot {slot!r} evaluated; "
                "evaluate the coalitions from coalition_configs with the same slots/samples/seed"
            )
        count = len(values)
        mean = math.fsum(values) / count
        var = math.fsum((v - mean) ** 2 for v in values) / (count - 1) if count > 1 else 0.0
        result[slot] = ShapleyEstimate(mean=mean, std=math.sqrt(var), samples=count, exact=False)
    return result


def shapley(
    slots: Sequence[str],
    value: Mapping[frozenset[str], float],
    *,
    seed: int,
    samples: int = 20,
    max_exact: int = 4,
) -> dict[str, ShapleyEstimate]:
    """Each slot's Shapley value of the game ``value`` (coalition -> e.g. val accuracy).

    For ``n <= max_exact`` the exact formula
    ``phi_i = sum_{S without i} |S|! (n-|S|-1)! / n! * (f(S + i) - f(S))`` over all 2^n
    coalitions (missing one raises ValueError naming it); it is efficient:
    ``sum phi_i == f(full) - f(empty)``. Otherwise the average marginal ``f(prefix + i) -
    f(prefix)`` over the permutations `coalition_configs` drew with the same ``seed`` and
    ``samples``, counting only permutations where both coalitions were evaluated.
    Removal cost at time T, not causal contribution (see the module docstring).
    """
    order = _check_slots(slots)
    _check_params(max_exact, samples)
    if len(order) <= max_exact:
        return _exact(order, value)
    return _sampled(order, value, samples=samples, seed=seed)


def interactions(
    slots: Sequence[str], value: Mapping[frozenset[str], float]
) -> dict[tuple[str, str], float]:
    """Pairwise interaction ``I_ij = f({i,j}) - f({i}) - f({j}) + f({})`` for slots in order.

    Positive means synergy (the pair is worth more than its parts), negative interference.
    Pairs whose four coalitions were not all evaluated are left out; keys are ``(i, j)`` with
    ``i`` before ``j`` in ``slots``.
    """
    order = _check_slots(slots)
    empty: frozenset[str] = frozenset()
    result: dict[tuple[str, str], float] = {}
    if empty not in value:
        return result
    for i, j in itertools.combinations(order, 2):
        pair, solo_i, solo_j = frozenset((i, j)), frozenset((i,)), frozenset((j,))
        if pair in value and solo_i in value and solo_j in value:
            result[(i, j)] = value[pair] - value[solo_i] - value[solo_j] + value[empty]
    return result
