"""`esper.watch.model`: what the panels show, folded from event lists (no textual)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from esper.watch.model import RunState
from esper.watch.model.lanes import LaneRow

from support.watchruns import ROLLBACK_EPOCH, growth_events, train_events


def fold(events: list[dict[str, Any]]) -> RunState:
    state = RunState()
    for i, event in enumerate(events, start=1):
        state.add(event, f"events.jsonl:{i}")
    return state


def _row(state: RunState, arm: str, slot: str) -> LaneRow:
    (row,) = [r for r in state.lanes.rows(arm) if r.slot == slot]
    return row


def test_swimlanes_hold_each_slots_stage_and_alpha_per_epoch() -> None:
    state = fold(growth_events())
    assert [r.slot for r in state.lanes.rows("grown")] == ["r0c0", "r0c2", "r1c1"]
    assert state.lanes.rows("static") == []
    assert state.lanes.slot_count("grown") == 6
    r0c0 = _row(state, "grown", "r0c0")
    assert r0c0.blueprint == "conv_light"
    assert r0c0.epochs == list(range(1, 25))
    assert r0c0.stages[2:9] == ["DORMANT", "GERMINATED", *["TRAINING"] * 4, "BLENDING"]
    assert r0c0.stages[-1] == "FOSSILIZED"
    assert r0c0.alphas[8:12] == [pytest.approx(1 / 3, abs=1e-4), pytest.approx(2 / 3, abs=1e-4),
                                 1.0, 1.0]  # fmt: skip
    assert r0c0.alphas[:3] == [None, None, None]
    r1c1 = _row(state, "grown", "r1c1")
    assert (r1c1.blueprint, r1c1.stages[14], r1c1.stages[-1]) == ("attention", "PRUNED", "DORMANT")
    assert _row(state, "grown", "r0c2").alphas[-3:] == [0.2, 0.5, 0.8]


def test_curves_and_latest_metrics_per_arm() -> None:
    state = fold(growth_events())
    assert state.arms() == ["grown", "static"]
    grown = state.curves.values("grown", "val_accuracy")
    assert len(grown) == 24
    assert grown[ROLLBACK_EPOCH - 1] < grown[ROLLBACK_EPOCH - 2]
    latest = state.curves.latest("grown")
    assert latest is not None
    assert (latest.epoch, latest.val_accuracy, latest.params_total) == (24, 71.01, 7424)
    assert state.overview.epoch == 24
    assert state.overview.total_epochs == 24


def test_decisions_attribute_seed_and_governor_events_to_the_next_epochs_arm() -> None:
    events = growth_events(range(1, ROLLBACK_EPOCH + 1))
    # Cut just before the grown arm's epoch 17: the rollback's arm is not known yet.
    cut = max(i for i, e in enumerate(events) if e["type"] == "governor.rollback") + 1
    state = fold(events[:cut])
    rollback = state.decisions.entries[-1]
    assert (rollback.level, rollback.arm, rollback.epoch) == ("rollback", None, ROLLBACK_EPOCH)
    assert rollback.text == "ROLLBACK: governor_divergence, val loss 9.21; pruned none"
    state.add(events[cut], "events.jsonl:99")
    assert rollback.arm == "grown"
    assert state.envs.rows["grown"].rollbacks == 1
    texts = [(d.epoch, d.arm, d.level, d.text) for d in fold(growth_events()).decisions.entries]
    assert (4, "grown", "action", "GERMINATE r0c0") in texts
    assert (7, "grown", "warning", "ADVANCE r0c0 (not applied)") in texts
    assert (15, "grown", "seed", "pruned r1c1-attention-1: policy (policy)") in texts
    assert (13, "grown", "seed", "fossilized r0c0-conv_light-1 (contribution +3.00 pp)") in texts
    # Waits are left out; the static arm never acts.
    assert not any(arm == "static" for _, arm, _, _ in texts)


def test_overview_progress_wall_time_and_status() -> None:
    live = fold(growth_events(range(1, 6)))
    assert (live.overview.command, live.overview.status, live.overview.sessions) == ("run", None, 1)
    assert live.overview.wall_time_s == pytest.approx(58.0)  # to the last event (epoch 5)
    done = fold(growth_events(finished=True))
    assert done.overview.status == "finished"
    assert done.overview.wall_time_s == pytest.approx(249.0)
    settings = dict(done.overview.settings())
    assert settings["policy"] == "heuristic"
    assert settings["train / val size"] == "2048 / 512"
    assert "agent" not in settings


def test_a_resumed_run_replays_epochs_over_what_the_stopped_session_logged() -> None:
    first = growth_events(range(1, 9))
    replay = growth_events(range(6, 11), started=False)
    resumed = [
        {**first[0], "ts": first[-1]["ts"] + 5},
        {"type": "run.resumed", "schema": 1, "ts": first[-1]["ts"] + 6, "run_id": first[0]["run_id"],
         "env_id": None, "epoch": None, "checkpoint": "checkpoint.pt", "position": 5},
    ]  # fmt: skip
    state = fold(first + resumed + replay)
    assert [p.epoch for p in state.curves.arms["grown"]] == list(range(1, 11))
    assert _row(state, "grown", "r0c0").epochs == list(range(1, 11))
    assert state.overview.sessions == 2
    assert state.overview.resumed_at == [5]


def test_ppo_figures_per_update() -> None:
    state = fold(train_events(finished=True))
    assert state.training
    ppo = state.ppo
    assert [u.update for u in ppo.updates] == [0, 1, 2]
    assert ppo.heads() == ["op", "slot", "blueprint", "alpha_target"]
    assert ppo.series("approx_kl") == pytest.approx([0.004, 0.007, 0.010])
    assert ppo.series("clip_fraction") == pytest.approx([0.05, 0.09, 0.13])
    assert ppo.series("explained_variance") == pytest.approx([-0.2, 0.15, 0.5])
    assert ppo.series("mean_reward") == pytest.approx([0.15, 0.05, 0.45])
    assert ppo.series("entropy_op") == pytest.approx([0.98, 0.90, 0.82])
    assert math.isnan(ppo.series("not_a_metric")[0])
    assert ppo.action_mix() == [("WAIT", 3), ("GERMINATE", 2), ("ADVANCE", 3)]
    assert ppo.imitation is not None
    assert ppo.imitation["agreement_heldout"] == 0.87
    assert (state.overview.updates, state.overview.total_updates) == (3, 3)
    assert state.overview.episodes == 6


def test_environment_status_and_lanes_of_the_current_episode() -> None:
    state = fold(train_events())
    env0, env1 = state.envs.rows["env0"], state.envs.rows["env1"]
    assert (env0.env_id, env0.epoch, env0.episodes, env0.live_seeds) == (0, 4, 3, 1)
    assert env0.last_action == "ADVANCE r0c0@3"
    assert (env1.rollbacks, env1.last_reward, env1.episode_accuracy) == (1, 0.4, 39.0)
    assert state.lanes.arms["env0"].episode == 3
    row = _row(state, "env0", "r0c0")
    assert (row.blueprint, row.epochs, row.stages[-1]) == ("norm", [1, 2, 3, 4], "BLENDING")
    (rollback,) = [d for d in state.decisions.entries if d.level == "rollback"]
    assert (rollback.arm, rollback.epoch) == ("env1", 3)
    assert any(d.text == "anomaly: ratio_explosion (5.2)" for d in state.decisions.entries)


def test_a_malformed_event_is_skipped_and_counted() -> None:
    events = growth_events(range(1, 3))
    broken = {**events[1], "val_accuracy": "high"}
    state = fold([events[0], broken, *events[2:]])
    assert state.problem_count == 1
    assert "val_accuracy" in state.problems[0]
    assert [p.epoch for p in state.curves.arms["grown"]] == [2]
    assert state.overview.events == len(events) - 1
