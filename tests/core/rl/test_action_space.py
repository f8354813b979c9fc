"""The factored action space: masks (invariant 30), causal relevance (invariant 25), conversion."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from esper.contracts.actions import (
    ALPHA_CURVES,
    ALPHA_SPEEDS,
    ALPHA_TARGETS,
    TEMPO_EPOCHS,
    Action,
    Op,
    Style,
)
from esper.lifecycle import Stage
from esper.lifecycle.alpha import AlphaCurve
from esper.rl.action_space import (
    CANONICAL,
    HEADS,
    MIN_PRUNE_AGE,
    ActionSpace,
    ActionSpaceError,
)
from esper.rl.observation import ObservationBuilder

from support.signals import SLOT_STAGES, signals, view

IDS = [
    "esper.blueprints.cnn:attention",
    "esper.blueprints.cnn:conv_light",
    "esper.blueprints.cnn:noop",
    "thirdparty:tiny_conv",
]
NAMES = ["attention", "conv_light", "noop", "tiny_conv"]
NOOP = 2


def masks_for(views, *, max_seeds=None, space=None):
    space = space or ActionSpace(len(views), IDS, NAMES)
    _, states = ObservationBuilder(IDS, len(views))([signals(views)])
    return space, space.masks(states, max_seeds=max_seeds)


slot_state = st.tuples(st.sampled_from(SLOT_STAGES), st.booleans(), st.integers(0, 12))


@settings(max_examples=200, deadline=None)
@given(
    states=st.lists(slot_state, min_size=1, max_size=5),
    max_seeds=st.none() | st.integers(1, 4),
)
def test_masks_remove_exactly_the_impossible_actions(states, max_seeds) -> None:
    """Invariant 30, slot by slot against a plain-Python statement of the rules."""
    views = [
        view(f"r0c{i}", stage, alpha_holding=holding, epochs_total=age)
        for i, (stage, holding, age) in enumerate(states)
    ]
    space, m = masks_for(views, max_seeds=max_seeds)
    n = len(views)
    assert m.op.shape == (1, len(Op))
    assert m.slot_by_op.shape == (1, len(Op), n)
    for head in HEADS[2:]:
        assert getattr(m, head).shape == (1, space.sizes[head])
    seeds = sum(
        s in (Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING, Stage.FOSSILIZED)
        for s, _, _ in states
    )
    under_limit = max_seeds is None or seeds < max_seeds
    expected = {
        Op.WAIT: [True] * n,
        Op.GERMINATE: [s is Stage.DORMANT and under_limit for s, _, _ in states],
        Op.SET_ALPHA_TARGET: [s in (Stage.BLENDING, Stage.HOLDING) and h for s, h, _ in states],
        Op.PRUNE: [
            s in (Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING)
            and a >= MIN_PRUNE_AGE
            and h
            for s, h, a in states
        ],
        Op.FOSSILIZE: [s is Stage.HOLDING for s, _, _ in states],
        Op.ADVANCE: [s in (Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING) for s, _, _ in states],
    }
    for op, slots in expected.items():
        assert m.slot_by_op[0, op].tolist() == slots, op.name
        assert bool(m.op[0, op]) is any(slots), op.name
    assert m.op[0, Op.WAIT]
    assert not m.blueprint[0, NOOP]
    assert m.blueprint[0].sum() == len(IDS) - 1
    assert m.tempo.all()
    assert m.alpha_speed.all()
    assert m.alpha_curve.all()
    retargetable = bool(m.op[0, Op.GERMINATE] or m.op[0, Op.SET_ALPHA_TARGET])
    assert m.style[0].all() == retargetable
    assert m.style[0, Style.SIGMOID_ADD]
    assert m.alpha_target[0].all() == retargetable
    assert m.alpha_target[0, ALPHA_TARGETS.index(1.0)]


def test_an_empty_slot_list_and_a_mismatched_space_raise() -> None:
    with pytest.raises(ActionSpaceError, match="at least one enabled slot"):
        ActionSpace(0, IDS, NAMES)
    space = ActionSpace(3, IDS, NAMES)
    _, states = ObservationBuilder(IDS, 2)([signals([view("a"), view("b")])])
    with pytest.raises(ActionSpaceError, match="2 slot"):
        space.masks(states)


def test_a_catalogue_of_only_noop_can_never_germinate() -> None:
    space = ActionSpace(1, ["x:noop"], ["noop"])
    _, states = ObservationBuilder(["x:noop"], 1)([signals([view("r0c0")])])
    assert not space.masks(states).op[0, Op.GERMINATE]


@pytest.mark.parametrize(
    ("op", "credited"),
    [
        (Op.WAIT, {"op"}),
        (Op.GERMINATE, {"op", "slot", "blueprint", "style", "tempo", "alpha_target"}),
        (
            Op.SET_ALPHA_TARGET,
            {"op", "slot", "style", "alpha_target", "alpha_speed", "alpha_curve"},
        ),
        (Op.PRUNE, {"op", "slot", "alpha_speed", "alpha_curve"}),
        (Op.FOSSILIZE, {"op", "slot"}),
        (Op.ADVANCE, {"op", "slot"}),
    ],
)
def test_causal_relevance_credits_exactly_the_heads_that_matter(op, credited) -> None:
    """Invariant 25."""
    space = ActionSpace(2, IDS, NAMES)
    row = space.relevance(torch.tensor([int(op)]))[0].tolist()
    assert {h for h, r in zip(HEADS, row, strict=True) if r} == credited


def test_irrelevant_heads_collapse_onto_one_canonical_value() -> None:
    views = [
        view("r0c0"),
        view("r0c1", Stage.HOLDING, epochs_total=9),
        view("r0c2", Stage.TRAINING, epochs_total=9),
    ]
    space, m = masks_for(views)
    ops = torch.tensor([int(op) for op in Op])
    batched = type(m)(*(x.expand(len(Op), *x.shape[1:]) for x in m))
    heads = space.head_masks(batched, ops)
    relevance = space.relevance(ops)
    for i, op in enumerate(Op):
        for h, mask in enumerate(heads, start=1):
            if relevance[i, h]:
                continue
            assert mask[i].sum() == 1, (op.name, HEADS[h])
        assert heads[0][i].tolist() == (
            [True, False, False] if op is Op.WAIT else m.slot_by_op[0, op].tolist()
        )
        assert heads[1][i, NOOP] == (op is not Op.GERMINATE)
        assert heads[2][i, CANONICAL["style"]]
    germinate = int(Op.GERMINATE)
    assert heads[1][germinate].tolist() == [True, True, False, True]
    assert heads[0][germinate].tolist() == [True, False, False]
    assert heads[0][int(Op.FOSSILIZE)].tolist() == [False, True, False]


def test_availability_follows_the_valid_ops() -> None:
    space, m = masks_for([view("r0c0", Stage.HOLDING, epochs_total=9, alpha_holding=True)])
    avail = dict(zip(HEADS, space.availability(m)[0].tolist(), strict=True))
    # SET_ALPHA_TARGET, PRUNE and FOSSILIZE are valid; GERMINATE is not.
    assert avail == {
        "op": True,
        "slot": True,
        "blueprint": False,
        "style": True,
        "tempo": False,
        "alpha_target": True,
        "alpha_speed": True,
        "alpha_curve": True,
    }


rows = st.tuples(
    st.sampled_from(list(Op)),
    st.integers(0, 2),
    st.sampled_from([0, 1, 3]),
    st.integers(0, len(Style) - 1),
    st.integers(0, len(TEMPO_EPOCHS) - 1),
    st.integers(0, len(ALPHA_TARGETS) - 1),
    st.integers(0, len(ALPHA_SPEEDS) - 1),
    st.integers(0, len(ALPHA_CURVES) - 1),
)


@given(row=rows)
def test_head_indices_and_actions_round_trip(row) -> None:
    space = ActionSpace(3, IDS, NAMES)
    slot_ids = ["r0c0", "r0c1", "r0c2"]
    canonical = space.canonicalize([int(v) for v in row])
    action = space.to_action(canonical, slot_ids)
    assert space.from_action(action, slot_ids) == canonical
    op = Op(row[0])
    assert action.op is op
    if op is Op.GERMINATE:
        assert action.blueprint == IDS[row[2]]
        assert action.tempo == TEMPO_EPOCHS[row[4]]
        assert action.style is Style(row[3])
    if op in (Op.PRUNE, Op.SET_ALPHA_TARGET):
        assert action.alpha_speed == ALPHA_SPEEDS[row[6]]
        assert (action.alpha_curve, action.steepness) == ALPHA_CURVES[row[7]]
    if op is Op.WAIT:
        assert action.slot is None


def test_heuristic_actions_map_onto_heads() -> None:
    space = ActionSpace(2, IDS, NAMES)
    slots = ["r0c0", "r0c1"]
    germ = Action(
        op=Op.GERMINATE, slot="r0c1", blueprint="conv_light", style=Style.SIGMOID_ADD, tempo=3
    )
    assert space.from_action(germ, slots) == [1, 1, 1, 2, 0, 2, 0, 0]
    prune = Action(op=Op.PRUNE, slot="r0c0", alpha_speed=0, reason="x")
    assert space.from_action(prune, slots) == [3, 0, NOOP, 2, 1, 2, 0, 0]
    assert space.from_action(Action(), slots) == [0, 0, NOOP, 2, 1, 2, 0, 0]
    with pytest.raises(ActionSpaceError, match="tempo 4"):
        space.from_action(
            Action(op=Op.GERMINATE, slot="r0c0", blueprint="attention", tempo=4), slots
        )
    with pytest.raises(ActionSpaceError, match="alpha_curve"):
        space.from_action(
            Action(op=Op.PRUNE, slot="r0c0", alpha_curve=AlphaCurve.COSINE, steepness=3.0), slots
        )
    with pytest.raises(ActionSpaceError, match="NOOP"):
        space.from_action(Action(op=Op.GERMINATE, slot="r0c0", blueprint="noop"), slots)
    with pytest.raises(ActionSpaceError, match="NOOP"):
        space.to_action([1, 0, NOOP, 0, 0, 0, 0, 0], slots)
    with pytest.raises(ActionSpaceError, match="outside"):
        space.to_action([0, 0, 9, 0, 0, 0, 0, 0], slots)


def test_a_third_party_blueprint_is_a_valid_action(esper_manager, register_plugin) -> None:
    from esper.contracts.policy import StaticPolicy
    from esper.engine.environment import Environment
    from esper.growth.catalog import BlueprintCatalog
    from esper.plugin import BlueprintSpec, hookimpl
    from esper.registry import Registries

    from support.tiny import TinyImageTask

    class ThirdParty:
        @hookimpl
        def esper_blueprints(self):
            yield BlueprintSpec(name="tiny_conv", topology="cnn", factory="support.tiny:conv_seed")

    register_plugin(ThirdParty(), name="thirdparty")
    registries = Registries(esper_manager)
    catalog = BlueprintCatalog(registries["blueprints"], "cnn")
    env = Environment(
        task=TinyImageTask(),
        registries=registries,
        policy=StaticPolicy(catalog=catalog),
        governor=None,
        device=torch.device("cpu"),
        seed=0,
        max_epochs=5,
    )
    slot_ids = env.model.slot_ids
    space = ActionSpace.from_catalog(catalog, len(slot_ids))
    assert space.sizes["blueprint"] == len(catalog)
    index = catalog.ids.index("thirdparty:tiny_conv")
    _, states = ObservationBuilder(catalog.ids, len(slot_ids))([env.step().signals])
    masks = space.masks(states)
    assert masks.op[0, Op.GERMINATE]
    assert masks.blueprint[0, index]
    action = space.to_action([int(Op.GERMINATE), 1, index, 2, 1, 2, 0, 0], slot_ids)
    assert env.apply(action)
    assert env.model.records[slot_ids[1]].state.blueprint_id == "thirdparty:tiny_conv"
