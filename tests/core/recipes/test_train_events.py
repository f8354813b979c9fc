"""The training loop's telemetry: episodes, anomalies, reward-gaming suspicions, resumes,
plateaus, host stabilisation and Shapley attribution at the end of an episode."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import esper.engine.environment
from esper.contracts.actions import Action, Op, Style
from esper.contracts.reward import RewardBreakdown, RewardContext, suspicions
from esper.contracts.signals import SlotView
from esper.engine.environment import Environment
from esper.engine.epoch import read_evaluation
from esper.lifecycle import Stage
from esper.recipes.train import TrainingAnomaly
from esper.recipes.train_record import anomalies
from esper.registry import Registries

from support.envs import tiny_env
from support.signals import signals


def watched_env(registries: Registries, events: list[Any], *, max_epochs: int = 50) -> Environment:
    return tiny_env(
        registries, max_epochs=max_epochs, emit=events.append, env_id=3, min_training_epochs=1
    )


def test_plateau_and_host_stabilisation_are_reported_once(
    registries: Registries, monkeypatch
) -> None:
    events: list[Any] = []
    env = watched_env(registries, events)

    def flat(values, ablate):  # a host that stopped improving, with a settled loss
        return attrs.evolve(read_evaluation(values, ablate), val_loss=1.0, val_accuracy=40.0)

    monkeypatch.setattr(esper.engine.environment, "read_evaluation", flat)
    for _ in range(6):
        env.step()
    plateaus = [e for e in events if e.type == "signals.plateau"]
    stable = [e for e in events if e.type == "signals.host_stabilized"]
    assert [(e.epoch, e.plateau_epochs) for e in plateaus] == [(4, 3)]
    assert [e.epoch for e in stable] == [4]  # three stable epochs after the first
    assert all(e.env_id == 3 for e in plateaus + stable)


def test_final_epoch_shapley_equals_the_single_seeds_contribution(registries: Registries) -> None:
    events: list[Any] = []
    env = watched_env(registries, events, max_epochs=5)
    slot = env.model.slot_ids[0]
    plan = [
        Action(op=Op.GERMINATE, slot=slot, blueprint="conv_light", style=Style.LINEAR_ADD, tempo=3),
        Action(op=Op.ADVANCE, slot=slot),
        Action(op=Op.ADVANCE, slot=slot),
        Action(),
        Action(),
    ]
    results = []
    for action in plan:
        env.observe()
        results.append(env.act(action))
    assert env.model.records[slot].state.stage is Stage.BLENDING
    last = results[-1]
    assert all(not r.shapley for r in results[:-1])  # only at the episode's last epoch
    (shapley,) = [e for e in events if e.type == "attribution.shapley"]
    assert shapley.exact
    # One player: its Shapley value is the whole gain, i.e. its removal contribution.
    assert last.shapley[slot] == pytest.approx(last.contributions[slot], abs=1e-9)
    assert shapley.values == last.shapley


def test_update_anomalies_are_recognised() -> None:
    healthy = {
        "nonfinite": 0.0,
        "skipped": 0.0,
        "ratio_max": 1.3,
        "ratio_min": 0.8,
        "explained_variance": 0.2,
    }
    assert anomalies(10, healthy) == []
    assert TrainingAnomaly.type == "train.anomaly"
    kinds = [k for k, _ in anomalies(10, {**healthy, "ratio_max": 9.0, "ratio_min": 0.01})]
    assert kinds == ["ratio_explosion", "ratio_collapse"]
    assert [k for k, _ in anomalies(10, {**healthy, "skipped": 1.0})] == ["numerical_instability"]
    # A poor critic is normal early on; only later is it reported.
    assert anomalies(1, {**healthy, "explained_variance": -3.0}) == []
    assert anomalies(10, {**healthy, "explained_variance": -3.0}) == [("value_collapse", -3.0)]


def _context(contribution: float, val_acc: float, all_off: float) -> RewardContext:
    view = SlotView(slot_id="r0c0", stage=Stage.HOLDING, contribution=contribution)
    return RewardContext(
        signals=signals(slots=(view,), val_accuracy=val_acc),
        action=Action(op=Op.FOSSILIZE, slot="r0c0"),
        action_ok=True,
        host_params=1000,
        all_off_accuracy=all_off,
    )


def test_reward_gaming_suspicions() -> None:
    clean = RewardBreakdown(components={"attribution": 1.0, "ratio_penalty": 0.0})
    assert suspicions(_context(2.0, 50.0, 48.0), clean) == []
    # The host depends on the seed (removing it costs 2 pp) while all seeds together hurt.
    assert suspicions(_context(2.0, 50.0, 51.0), clean) == [("ransomware", "r0c0")]
    penalised = RewardBreakdown(components={"attribution": 1.0, "ratio_penalty": -0.2})
    assert ("ratio_penalty", "r0c0") in suspicions(_context(2.0, 50.0, 49.9), penalised)
