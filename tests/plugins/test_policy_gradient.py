"""The gradient-probe controller: probing, committing, paying for cost, checkpoints, config, engine.

Most tests drive the controller through `Lifecycle`, a hand-run stand-in for the engine that
executes actions the way the lifecycle does and reports each epoch's `SlotView`s with the
gradient norms and contributions the test chooses, so every decision can be checked by hand.
"""

from __future__ import annotations

import copy
import io
import json
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
import torch

from esper.config import structure
from esper.contracts.actions import Action, Op
from esper.errors import ConfigError
from esper.growth.catalog import BlueprintCatalog
from esper.lifecycle import Stage
from esper.rl import action_space
from esper.rl.action_space import ActionSpace
from esper.rl.observation import ObservationBuilder
from esper.testing import check_numeric_bounds
from esper_plugins.policies.config import GradientConfig
from esper_plugins.policies.gradient import DEFAULT_PROBES, MIN_PRUNE_AGE, GradientPolicy

from support.envs import tiny_env
from support.signals import signals, view
from support.tiny import TinyImageTask

SLOTS = ("r0c0", "r0c1", "r0c2")
_LIVE = (Stage.GERMINATED, Stage.TRAINING, Stage.BLENDING, Stage.HOLDING)
_PROBING = (Stage.GERMINATED, Stage.TRAINING, Stage.PRUNED)


@pytest.fixture(scope="module")
def catalog(registries) -> BlueprintCatalog:
    return BlueprintCatalog(registries["blueprints"], "cnn")


def policy_for(catalog, **options: Any) -> GradientPolicy:
    # Grow from the first epoch (the fake host is always on a plateau).
    options.setdefault("min_epoch", 0)
    return GradientPolicy(GradientConfig(**options), catalog=catalog)


class Lifecycle:
    """The engine's side, by hand: one `tick` is an epoch of training and measurement, then
    `execute` applies the controller's action as the lifecycle would (or refuses it)."""

    def __init__(
        self,
        norms: dict[str, float],
        *,
        contribution: float = 1.5,
        min_training_epochs: int = 2,
        cooldown: int = 2,
    ) -> None:
        self.norms, self.contribution = norms, contribution
        self.min_training_epochs, self.cooldown = min_training_epochs, cooldown
        self.epoch = 0
        self.seeds: dict[str, dict[str, Any]] = {}  # slot -> its view's fields
        self.last: tuple[Op | None, bool | None] = (None, None)
        self.reasons: list[str] = []

    def signals(self):
        views = [view(s, **self.seeds[s]) if s in self.seeds else view(s) for s in SLOTS]
        op, ok = self.last
        return signals(
            views,
            epoch=self.epoch,
            max_epochs=100,
            plateau_epochs=9,
            last_action_op=op,
            last_action_ok=ok,
        )

    def tick(self) -> None:
        self.epoch += 1
        for slot, seed in list(self.seeds.items()):
            stage = seed["stage"]
            if stage is Stage.PRUNED:  # the cooldown, then the slot is free again
                seed["epochs_in_stage"] += 1
                if seed["epochs_in_stage"] >= self.cooldown:
                    del self.seeds[slot]
                continue
            if stage not in _LIVE:
                continue
            seed["epochs_total"] += 1
            seed["epochs_in_stage"] += 1
            if stage is Stage.TRAINING:
                seed["gradient_norm"] = self.norms[slot]
            elif stage is Stage.BLENDING:
                seed["alpha"] = min(1.0, seed["alpha"] + 0.5)
                seed["alpha_holding"] = seed["alpha"] >= 1.0
            elif stage is Stage.HOLDING:
                seed["contribution"] = self.contribution

    def execute(self, action: Action) -> bool:
        if action.op is Op.WAIT:
            return True
        seed = self.seeds.get(action.slot or "")
        stage = Stage.DORMANT if seed is None else seed["stage"]
        target = {
            (Op.GERMINATE, Stage.DORMANT): Stage.GERMINATED,
            (Op.ADVANCE, Stage.GERMINATED): Stage.TRAINING,
            (Op.ADVANCE, Stage.TRAINING): Stage.BLENDING,
            (Op.ADVANCE, Stage.BLENDING): Stage.HOLDING,
            (Op.FOSSILIZE, Stage.HOLDING): Stage.FOSSILIZED,
        }.get((action.op, stage))
        if action.op is Op.PRUNE and stage in _LIVE:
            target = Stage.PRUNED
        if target is Stage.BLENDING and seed["epochs_in_stage"] < self.min_training_epochs:
            target = None  # the G2 gate: not trained long enough
        if target is None:
            return False
        if target is Stage.GERMINATED:
            seed = self.seeds[action.slot] = {"epochs_total": 0, "alpha_target": 1.0}
        if target is Stage.BLENDING:
            seed.update(alpha=0.0, alpha_holding=False)
        seed.update(stage=target, epochs_in_stage=0)
        return True

    def run(self, policy: GradientPolicy, epochs: int) -> list[tuple[Op, str | None, bool]]:
        trace = []
        for _ in range(epochs):
            self.tick()
            action = policy.decide(self.signals())
            ok = self.execute(action)
            self.last = (action.op, ok)
            self.reasons.append(action.reason)
            trace.append((action.op, action.slot, ok))
        return trace


G, A, P, F, W = Op.GERMINATE, Op.ADVANCE, Op.PRUNE, Op.FOSSILIZE, Op.WAIT


# -- probe, commit, pay ----------------------------------------------------------------------


def test_probes_free_slots_one_by_one_and_grows_where_the_gradient_norm_is_largest(
    catalog,
) -> None:
    policy = policy_for(catalog)
    world = Lifecycle({"r0c0": 0.02, "r0c1": 0.09, "r0c2": 0.05})
    trace = world.run(policy, 12)
    assert [(op, slot) for op, slot, _ in trace] == [
        (G, "r0c0"),  # probe 1: germinate, then incubate
        (A, "r0c0"),
        (G, "r0c1"),  # r0c0 scored 0.02
        (A, "r0c1"),
        (G, "r0c2"),  # r0c1 scored 0.09
        (A, "r0c2"),
        (A, "r0c1"),  # r0c2 scored 0.05: the round is complete, r0c1 starts blending
        (P, "r0c0"),  # while it blends, the losers go (r0c0 is 7 epochs old)
        (A, "r0c1"),  # blend complete -> HOLDING
        (F, "r0c1"),  # contributes 1.5 pp
        (P, "r0c2"),  # the other loser, once nothing else needs the epoch
        (G, "r0c0"),  # still a plateau: round two, in the slot free again, next blueprint
    ]
    assert all(ok for _, _, ok in trace)
    assert world.seeds["r0c1"]["stage"] is Stage.FOSSILIZED
    assert [world.reasons[i] for i in (7, 10)] == ["probe scored 0.02", "probe scored 0.05"]
    assert policy.round_slots == ["r0c0"]  # r0c2 is still cooling down
    assert policy.round_blueprint == policy.blueprints[1]


def test_the_commit_reason_lists_the_scores_best_first(catalog) -> None:
    policy = policy_for(catalog)
    world = Lifecycle({"r0c0": 0.02, "r0c1": 0.09, "r0c2": 0.05})
    world.run(policy, 6)
    world.tick()
    action = policy.decide(world.signals())
    assert (action.op, action.slot) == (A, "r0c1")
    assert action.reason == "grow at r0c1: gradient norms r0c1 0.09, r0c2 0.05, r0c0 0.02"
    assert policy.grown == 1


@pytest.mark.parametrize(
    ("norms", "winner"),
    [
        ((0.3, 0.2, 0.1), "r0c0"),
        ((0.1, 0.2, 0.3), "r0c2"),
        ((0.2, 0.2, 0.1), "r0c0"),  # a tie goes to the earlier slot
    ],
)
def test_the_largest_score_wins_wherever_it_is(catalog, norms, winner) -> None:
    world = Lifecycle(dict(zip(SLOTS, norms, strict=True)))
    trace = world.run(policy_for(catalog), 9)
    assert trace[6][:2] == (A, winner)  # (r0c2 has incubated one epoch: the gate says wait)
    moved_on = [s for s, seed in world.seeds.items() if seed["stage"] not in _PROBING]
    assert moved_on == [winner]  # blending or holding; the others are probes or pruned


def test_max_probes_bounds_the_round(catalog) -> None:
    world = Lifecycle({"r0c0": 0.02, "r0c1": 0.09, "r0c2": 0.5})
    trace = world.run(policy_for(catalog, max_probes=2), 5)
    assert [(op, slot) for op, slot, _ in trace] == [
        (G, "r0c0"),
        (A, "r0c0"),
        (G, "r0c1"),
        (A, "r0c1"),
        (A, "r0c1"),  # r0c2 was never probed, however well it would have scored
    ]


def test_a_round_below_min_score_grows_nothing_prunes_its_probes_and_waits_the_embargo(
    catalog,
) -> None:
    policy = policy_for(catalog, min_score=1e-3, embargo_epochs=6)
    world = Lifecycle(dict.fromkeys(SLOTS, 5e-4))
    trace = world.run(policy, 13)
    assert [(op, slot) for op, slot, _ in trace[:6]] == [
        (G, "r0c0"),
        (A, "r0c0"),
        (G, "r0c1"),
        (A, "r0c1"),
        (G, "r0c2"),
        (A, "r0c2"),
    ]
    # Epoch 7 closes the round empty-handed; each probe goes as soon as the masks allow
    # (5 epochs old), the embargo runs from epoch 7, and round two uses the next blueprint.
    assert [(op, slot) for op, slot, _ in trace[6:12]] == [
        (P, "r0c0"),
        (P, "r0c1"),
        (W, None),
        (P, "r0c2"),
        (W, None),
        (W, None),
    ]
    assert trace[12] == (G, "r0c0", True)
    assert policy.round_blueprint == policy.blueprints[1]
    assert A not in [op for op, slot, _ in trace[6:]]  # nothing was advanced toward blending
    assert policy.grown == 0


@pytest.mark.parametrize(
    ("epoch", "max_probes", "op"), [(13, None, G), (14, None, W), (17, 1, G), (18, 1, W)]
)
def test_no_round_opens_that_could_not_score_every_probe_before_the_end(
    catalog, epoch, max_probes, op
) -> None:
    # Three free slots need six epochs of probing, one slot two; the run ends at epoch 20,
    # and the scores must be in before its last epoch.
    policy = policy_for(catalog, max_probes=max_probes)
    free = signals([view(s) for s in SLOTS], epoch=epoch, max_epochs=20, plateau_epochs=9)
    action = policy.decide(free)
    assert action.op is op
    if op is W:
        assert action.reason == "too late: the round could not finish"


def test_a_refused_advance_is_waited_out_on_pending_prunes(catalog) -> None:
    world = Lifecycle({"r0c0": 0.02, "r0c1": 0.09, "r0c2": 0.05}, min_training_epochs=8)
    trace = world.run(policy_for(catalog), 12)
    assert trace[6:] == [
        (A, "r0c1", False),  # incubated 3 epochs: the gate wants 8
        (P, "r0c0", True),  # the refused epoch goes to a loser
        (A, "r0c1", False),
        (P, "r0c2", True),
        (A, "r0c1", False),
        (A, "r0c1", True),  # nothing left to prune: ask again; 8 epochs, the gate passes
    ]


@pytest.mark.parametrize(
    ("contribution", "op"),
    [(0.51, F), (0.5, P), (-0.3, P), (None, W)],
)
def test_a_holding_seed_is_fossilized_iff_its_contribution_exceeds_the_threshold(
    catalog, contribution, op
) -> None:
    policy = policy_for(catalog, min_contribution_pp=0.5)
    holding = view("r0c1", Stage.HOLDING, alpha=1.0, alpha_target=1.0, epochs_total=12)
    action = policy.decide(
        signals([view("r0c0"), attrs.evolve(holding, contribution=contribution)], epoch=20)
    )
    assert action.op is op
    assert action.slot == (None if op is W else "r0c1")
    if op is P:
        # A pruned grown seed starts the embargo: no round opens right after it.
        after = policy.decide(signals([view("r0c0"), view("r0c1")], epoch=21, plateau_epochs=9))
        assert (after.op, after.reason) == (W, "embargo")


def test_a_blending_seed_whose_accuracy_fell_is_pruned_once_its_alpha_holds(catalog) -> None:
    policy = policy_for(catalog, prune_drop_pp=2.0, prune_after_epochs=5)

    def blending(drop: float, **fields: Any):
        seed = view("r0c0", Stage.BLENDING, epochs_total=15, epochs_in_stage=5, **fields)
        return signals([attrs.evolve(seed, improvement_since_stage_start=drop)], epoch=20)

    ramping = {"alpha": 0.5, "alpha_target": 1.0, "alpha_holding": False}
    assert policy.decide(blending(-2.5, **ramping)).op is W  # the masks forbid it mid-ramp
    failed = policy.decide(blending(-2.5, alpha=0.7, alpha_target=0.7))
    assert (failed.op, failed.slot, failed.alpha_speed) == (P, "r0c0", 0)
    policy.reset()
    assert policy.decide(blending(-1.0, alpha=1.0, alpha_target=1.0)).op is A


# -- checkpoints -------------------------------------------------------------------------------


def test_state_round_trips_mid_probe_and_the_decisions_continue_identically(catalog) -> None:
    norms = {"r0c0": 0.02, "r0c1": 0.09, "r0c2": 0.05}
    reference, world = policy_for(catalog), Lifecycle(norms)
    world.run(reference, 4)  # r0c0 scored, r0c1 incubating, r0c2 not yet probed
    state = json.loads(json.dumps(reference.state_dict()))  # plain data
    assert state["probed"] == ["r0c0", "r0c1"]
    assert state["scores"] == {"r0c0": 0.02}

    resumed = policy_for(catalog)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == reference.state_dict()
    twin = copy.deepcopy(world)
    assert twin.run(resumed, 10) == world.run(reference, 10)
    assert resumed.state_dict() == reference.state_dict()

    resumed.reset()
    assert resumed.state_dict() == policy_for(catalog).state_dict()


# -- configuration ----------------------------------------------------------------------------


def test_config_validation_errors_name_the_key() -> None:
    assert check_numeric_bounds(GradientConfig)  # NaN, inf, absurd ints: all refused by name
    for key, value in [
        ("min_score", -1.0),
        ("max_probes", 0),
        ("plateau_epochs", -1),
        ("prune_drop_pp", 0.0),
        ("style", "fast"),
        ("max_seeds", -1),
    ]:
        with pytest.raises(ValueError, match=key):
            GradientConfig(**{key: value})


@pytest.mark.parametrize(("key", "value"), [("min_score", -1.0), ("style", "fast")])
def test_the_loader_names_the_full_key(registries, key, value) -> None:
    with pytest.raises(ConfigError) as info:
        structure({"policy": {"name": "gradient", key: value}}, registries)
    assert [p.split(":")[0] for p in info.value.problems] == [f"config.policy.{key}"]


def test_blueprints_default_per_topology_and_fall_back_to_the_catalogue(
    catalog, registries
) -> None:
    assert policy_for(catalog).blueprints == DEFAULT_PROBES["cnn"]
    text = BlueprintCatalog(registries["blueprints"], "transformer")
    assert GradientPolicy(catalog=text).blueprints == DEFAULT_PROBES["transformer"]
    third_party = SimpleNamespace(topology="graph", names=["noop", "edge_mlp", "gat"])
    assert GradientPolicy(catalog=third_party).blueprints == ("edge_mlp", "gat")
    assert policy_for(catalog, blueprints=["depthwise"]).blueprints == ("depthwise",)
    with pytest.raises(ConfigError, match=r"config\.policy\.blueprints: \['lora'\]"):
        policy_for(catalog, blueprints=["lora"])


def test_the_prune_age_is_the_action_masks() -> None:
    assert MIN_PRUNE_AGE == action_space.MIN_PRUNE_AGE


# -- in the engine ---------------------------------------------------------------------------


def _allowed(space: ActionSpace, catalog, signals_, action: Action) -> bool:
    """Whether ``action`` passes the action masks a learned controller would have had."""
    slot_ids = [v.slot_id for v in signals_.slots]
    _, states = ObservationBuilder(catalog.ids, len(slot_ids))([signals_])
    masks = space.masks(states)
    row = space.from_action(action, slot_ids)  # raises for a value off the heads' tables
    if not masks.op[0, row[0]]:
        return False
    if action.op is Op.WAIT:
        return True
    ok = bool(masks.slot_by_op[0, row[0], row[1]])
    return ok and (action.op is not Op.GERMINATE or bool(masks.blueprint[0, row[2]]))


def test_in_an_environment_it_probes_grows_fossilizes_and_prunes_with_valid_actions(
    registries, catalog
) -> None:
    config = GradientConfig(min_epoch=1, plateau_epochs=0, min_score=0.0, min_contribution_pp=-100)
    policy = registries["policies"].get("gradient").build(config, catalog=catalog)
    env = tiny_env(
        registries,
        task=TinyImageTask(n_train=64, n_val=32),
        policy=policy,
        max_epochs=12,
        min_training_epochs=2,
    )
    space = ActionSpace.from_catalog(catalog, len(env.model.records))
    results = [env.step() for _ in range(12)]
    for r in results:
        assert _allowed(space, catalog, r.signals, r.action), (r.epoch, r.action)
        # The only refusals are the G2 gate's, which the controller waits out.
        assert r.action_ok or r.action.op is Op.ADVANCE, (r.epoch, r.action)
    done = [(r.action.op, r.action.slot) for r in results if r.action.op is not Op.WAIT]
    assert done[:4] == [(G, "r0c0"), (A, "r0c0"), (G, "r0c1"), (A, "r0c1")]
    grown = next(r for r in results if r.stages_after.get(r.action.slot or "") == "BLENDING")
    assert grown.action.reason.startswith(f"grow at {grown.action.slot}: gradient norms")
    assert (F, grown.action.slot) in done
    loser = next(slot for slot in ("r0c0", "r0c1") if slot != grown.action.slot)
    assert (P, loser) in done
    assert env.model.parameter_counts().fossilized > 0


def test_an_environment_resumed_mid_round_takes_the_same_actions(registries, catalog) -> None:
    config = GradientConfig(min_epoch=1, plateau_epochs=0, min_score=0.0)

    def make_env():
        policy = GradientPolicy(config, catalog=catalog)
        task = TinyImageTask(n_train=64, n_val=32)
        return tiny_env(registries, task=task, policy=policy, max_epochs=8, min_training_epochs=2)

    env = make_env()
    for _ in range(3):  # r0c0 scored, r0c1 germinated
        env.step()
    buffer = io.BytesIO()
    torch.save(env.state_dict(), buffer)  # as a checkpoint does
    later = [env.step().action for _ in range(3)]
    resumed = make_env()
    buffer.seek(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.policy.state_dict()["probed"] == ["r0c0", "r0c1"]
    assert [resumed.step().action for _ in range(3)] == later
