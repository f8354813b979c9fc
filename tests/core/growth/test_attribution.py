"""Shapley attribution over slot coalitions (esper.growth.attribution)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.growth.attribution import (
    MAX_PERMUTATIONS,
    ShapleyEstimate,
    alpha_overrides,
    coalition_configs,
    interactions,
    sample_permutations,
    shapley,
)

Game = dict[frozenset[str], float]

SLOT_NAMES = [f"r{i}c{j}" for i in range(3) for j in range(3)]


def slot_lists(min_size: int = 0, max_size: int = 4) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(SLOT_NAMES), min_size=min_size, max_size=max_size, unique=True)


def all_coalitions(slots: Sequence[str]) -> list[frozenset[str]]:
    return [frozenset(c) for k in range(len(slots) + 1) for c in itertools.combinations(slots, k)]


def table(slots: Sequence[str], f: Callable[[frozenset[str]], float]) -> Game:
    return {c: f(c) for c in all_coalitions(slots)}


def additive(slots: Sequence[str], weights: Sequence[float], base: float) -> Game:
    w = dict(zip(slots, weights, strict=True))
    return table(slots, lambda c: base + math.fsum(w[s] for s in c))


@st.composite
def additive_games(
    draw: st.DrawFn, min_size: int = 0, max_size: int = 4
) -> tuple[list[str], list[float], float]:
    slots = draw(slot_lists(min_size, max_size))
    # Integer-valued weights keep every sum exact, so "equals" can be checked tightly.
    weights = draw(st.lists(st.integers(-50, 50), min_size=len(slots), max_size=len(slots)))
    base = draw(st.integers(0, 100))
    return slots, [float(w) for w in weights], float(base)


@st.composite
def random_games(draw: st.DrawFn, min_size: int = 0, max_size: int = 4) -> tuple[list[str], Game]:
    slots = draw(slot_lists(min_size, max_size))
    coalitions = all_coalitions(slots)
    values = draw(
        st.lists(
            st.floats(0.0, 100.0, allow_nan=False),
            min_size=len(coalitions),
            max_size=len(coalitions),
        )
    )
    return slots, dict(zip(coalitions, values, strict=True))


# -- coalition_configs ------------------------------------------------------------------------


@given(slots=slot_lists(0, 7), seed=st.integers(0, 2**31), samples=st.integers(1, 30))
def test_configs_contain_empty_and_full_full_first(
    slots: list[str], seed: int, samples: int
) -> None:
    configs = coalition_configs(slots, seed=seed, samples=samples)
    assert configs[0] == frozenset(slots)
    assert frozenset() in configs
    assert len(set(configs)) == len(configs)
    assert all(c <= frozenset(slots) for c in configs)


@given(slots=slot_lists(0, 5), seed=st.integers(0, 100))
def test_full_factorial_yields_two_to_the_n_unique_configs(slots: list[str], seed: int) -> None:
    configs = coalition_configs(slots, max_exact=5, seed=seed)
    assert len(configs) == 2 ** len(slots)
    assert set(configs) == set(all_coalitions(slots))


@given(slots=slot_lists(5, 8), seed=st.integers(0, 2**31), samples=st.integers(1, 40))
def test_sampled_configs_hold_ablation_set_and_every_permutation_prefix(
    slots: list[str], seed: int, samples: int
) -> None:
    configs = set(coalition_configs(slots, seed=seed, samples=samples))
    full = frozenset(slots)
    for s in slots:
        assert full - {s} in configs
        assert frozenset((s,)) in configs
    for perm in sample_permutations(slots, samples=samples, seed=seed):
        for k in range(len(slots) + 1):
            assert frozenset(perm[:k]) in configs
    assert len(configs) <= 2 + 2 * len(slots) + min(samples, MAX_PERMUTATIONS) * (len(slots) - 1)


def test_permutations_are_antithetic_capped_and_seeded() -> None:
    slots = ["a", "b", "c", "d", "e", "f"]
    perms = sample_permutations(slots, samples=20, seed=7)
    assert len(perms) == 20
    for k in range(0, 20, 2):
        assert perms[k + 1] == tuple(reversed(perms[k]))
        assert sorted(perms[k]) == slots
    assert len(sample_permutations(slots, samples=5, seed=7)) == 5
    assert sample_permutations(slots, samples=5, seed=7) == perms[:5]
    assert len(sample_permutations(slots, samples=1000, seed=7)) == MAX_PERMUTATIONS
    assert sample_permutations(slots, samples=20, seed=8) != perms


@given(slots=slot_lists(0, 8), seed=st.integers(0, 2**31))
def test_configs_are_deterministic_for_a_seed(slots: list[str], seed: int) -> None:
    assert coalition_configs(slots, seed=seed) == coalition_configs(list(slots), seed=seed)


# -- alpha_overrides --------------------------------------------------------------------------


def test_alpha_overrides_zero_only_slots_outside_the_coalition() -> None:
    slots = ["s0", "s1", "s2"]
    assert alpha_overrides(frozenset(slots), slots) == {}
    assert alpha_overrides(frozenset(), slots) == {"s0": 0.0, "s1": 0.0, "s2": 0.0}
    assert alpha_overrides(frozenset({"s1"}), slots) == {"s0": 0.0, "s2": 0.0}
    with pytest.raises(ValueError, match="zz"):
        alpha_overrides(frozenset({"zz"}), slots)


# -- exact Shapley ----------------------------------------------------------------------------


def test_exact_two_player_example_by_hand() -> None:
    value: Game = {
        frozenset(): 0.0,
        frozenset({"a"}): 1.0,
        frozenset({"b"}): 2.0,
        frozenset({"a", "b"}): 5.0,
    }
    # phi_a = 1/2 (1 - 0) + 1/2 (5 - 2) = 2; phi_b = 1/2 (2 - 0) + 1/2 (5 - 1) = 3.
    result = shapley(["a", "b"], value, seed=0)
    assert result == {
        "a": ShapleyEstimate(mean=2.0, std=0.0, samples=2, exact=True),
        "b": ShapleyEstimate(mean=3.0, std=0.0, samples=2, exact=True),
    }
    assert interactions(["a", "b"], value) == {("a", "b"): 2.0}


def test_exact_majority_game() -> None:
    slots = ["a", "b", "c"]
    value = table(slots, lambda c: 1.0 if len(c) >= 2 else 0.0)
    result = shapley(slots, value, seed=0)
    assert [result[s].mean for s in slots] == pytest.approx([1 / 3] * 3)


@given(game=additive_games(0, 4))
def test_exact_shapley_recovers_additive_values_and_zero_interactions(
    game: tuple[list[str], list[float], float],
) -> None:
    slots, weights, base = game
    value = additive(slots, weights, base)
    result = shapley(slots, value, seed=0)
    assert [result[s].mean for s in slots] == pytest.approx(weights, abs=1e-9)
    assert all(e.exact and e.std == 0.0 for e in result.values())
    pairs = interactions(slots, value)
    assert len(pairs) == len(slots) * (len(slots) - 1) // 2
    assert all(v == 0.0 for v in pairs.values())


@given(game=random_games(0, 4))
def test_exact_shapley_is_efficient(game: tuple[list[str], Game]) -> None:
    slots, value = game
    result = shapley(slots, value, seed=0)
    total = math.fsum(e.mean for e in result.values())
    assert total == pytest.approx(value[frozenset(slots)] - value[frozenset()], abs=1e-9)


@given(game=random_games(2, 4))
def test_symmetric_players_get_equal_values(game: tuple[list[str], Game]) -> None:
    slots, raw = game
    a, b = slots[0], slots[1]

    def swap(c: frozenset[str]) -> frozenset[str]:
        return frozenset({a: b, b: a}.get(s, s) for s in c)

    value = {c: raw[c] + raw[swap(c)] for c in raw}  # symmetric in a and b
    result = shapley(slots, value, seed=0)
    assert result[a].mean == pytest.approx(result[b].mean, abs=1e-9)


@given(game=random_games(0, 3), seed=st.integers(0, 100))
def test_null_player_gets_zero(game: tuple[list[str], Game], seed: int) -> None:
    others, raw = game
    null = next(s for s in SLOT_NAMES if s not in others)
    slots = [*others, null]
    value = table(slots, lambda c: raw[c - {null}])
    assert shapley(slots, value, seed=seed)[null].mean == pytest.approx(0.0, abs=1e-9)


def test_missing_coalition_raises_naming_it() -> None:
    slots = ["a", "b", "c"]
    value = table(slots, lambda c: float(len(c)))
    del value[frozenset({"a", "b", "c"})]
    with pytest.raises(ValueError, match=r"\{a, b, c\}"):
        shapley(slots, value, seed=0)
    # Interactions need only pairs, singles and the empty coalition; a missing pair is left out.
    assert set(interactions(slots, value)) == {("a", "b"), ("a", "c"), ("b", "c")}
    del value[frozenset({"a", "c"})]
    with pytest.raises(ValueError, match=r"\{a, c\}"):
        shapley(slots, value, seed=0)
    assert set(interactions(slots, value)) == {("a", "b"), ("b", "c")}


# -- sampled Shapley --------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(game=additive_games(6, 6), seed=st.integers(0, 2**31), samples=st.integers(1, 30))
def test_sampled_estimate_for_six_slots_equals_additive_values(
    game: tuple[list[str], list[float], float], seed: int, samples: int
) -> None:
    slots, weights, base = game
    full = additive(slots, weights, base)
    # Only what coalition_configs asked for is evaluated, as in the environment.
    value = {c: full[c] for c in coalition_configs(slots, seed=seed, samples=samples)}
    result = shapley(slots, value, seed=seed, samples=samples)
    assert [result[s].mean for s in slots] == weights
    assert all(not e.exact and e.std == 0.0 for e in result.values())
    assert all(e.samples == min(samples, MAX_PERMUTATIONS) for e in result.values())


@settings(max_examples=20, deadline=None)
@given(
    slots=slot_lists(5, 7),
    data=st.data(),
    seed=st.integers(0, 2**31),
)
def test_sampled_shapley_is_deterministic_for_a_seed(
    slots: list[str], data: st.DataObject, seed: int
) -> None:
    configs = coalition_configs(slots, seed=seed)
    values = data.draw(
        st.lists(st.floats(0.0, 100.0), min_size=len(configs), max_size=len(configs))
    )
    value = dict(zip(configs, values, strict=True))
    first = shapley(slots, value, seed=seed)
    assert shapley(slots, dict(value), seed=seed) == first
    assert all(e.samples == 20 for e in first.values())
    # Efficiency holds per permutation, so it holds for the average over permutations too.
    total = math.fsum(e.mean for e in first.values())
    assert total == pytest.approx(value[frozenset(slots)] - value[frozenset()], abs=1e-6)


def test_sampled_std_measures_spread_of_marginals() -> None:
    slots = ["a", "b", "c", "d", "e"]
    # a is worth 10 only when joining b (a pure interaction), so its marginals are 0 or 10.
    value = table(slots, lambda c: 10.0 if {"a", "b"} <= c else 0.0)
    configs = coalition_configs(slots, seed=3, samples=40)
    result = shapley(slots, {c: value[c] for c in configs}, seed=3, samples=40)
    assert result["a"].std > 0.0
    # Antithetic pairs: a after b in exactly one of each pair, so the mean is exact.
    assert result["a"].mean == pytest.approx(5.0)
    assert result["b"].mean == pytest.approx(5.0)
    assert result["c"].mean == 0.0


def test_sampled_shapley_without_needed_coalitions_raises() -> None:
    slots = ["a", "b", "c", "d", "e"]
    value: Game = {frozenset(): 0.0, frozenset(slots): 1.0}
    with pytest.raises(ValueError, match="slot 'a'"):
        shapley(slots, value, seed=0)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unique"):
        coalition_configs(["a", "a"], seed=0)
    with pytest.raises(ValueError, match="samples"):
        coalition_configs(["a"], seed=0, samples=0)
    with pytest.raises(ValueError, match="max_exact"):
        shapley(["a"], {frozenset(): 0.0, frozenset({"a"}): 1.0}, seed=0, max_exact=-1)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**31))
def test_sampled_null_player_gets_exactly_zero(data: st.DataObject, seed: int) -> None:
    slots = SLOT_NAMES[:6]
    null = slots[2]
    base: Game = {}
    value: Game = {}
    for c in coalition_configs(slots, seed=seed):
        key = c - {null}
        if key not in base:
            base[key] = data.draw(st.floats(0.0, 100.0))
        value[c] = base[key]
    result = shapley(slots, value, seed=seed)
    assert result[null].mean == 0.0
    assert result[null].std == 0.0
