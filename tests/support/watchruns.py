"""Deterministic event logs for the tests and screenshots of ``esper watch``.

Each event is built as the typed record a run emits (so a change of the schema breaks these
logs as it breaks real ones) and written with fixed timestamps and run ids: the screens drawn
from them are the same on every machine. `growth_events` is an ``esper run`` with two arms
whose grown arm fossilizes one seed, prunes another, starts a third and has a governor
rollback; `train_events` is an ``esper train`` with two environments, three PPO updates, an
imitation warm start, a rolled-back episode and an anomaly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from esper.engine.events import (
    EpisodeFinished,
    EpochCompleted,
    ImitationFinished,
    TrainingAnomaly,
    UpdateCompleted,
)
from esper.lifecycle.events import SeedFossilized, SeedGerminated, SeedPruned, SeedStageChanged
from esper.telemetry.events import Event, RunEnded, RunStarted, event_to_dict
from esper_plugins.governors.events import GovernorPanic, GovernorRollback

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
RUN_ID = "20260101-000000-a1b2c3"
TRAIN_ID = "20260101-010000-d4e5f6"
SLOTS = ("r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2")
HOST_PARAMS = 6484
GROWTH_EPOCHS = 24

CONFIG: dict[str, Any] = {
    "run": {"seed": 7, "device": "cpu", "epochs": GROWTH_EPOCHS},
    "task": {"name": "esper.tasks.builtin:image", "host_name": "cnn", "train_size": 2048,
             "val_size": 512},
    "policy": {"name": "esper.policies.heuristic:heuristic"},
    "governor": {"name": "esper.governors.default:default"},
}  # fmt: skip
TRAIN_CONFIG: dict[str, Any] = {
    **CONFIG,
    "run": {"seed": 3, "device": "cpu", "epochs": 4},
    "train": {"episodes": 6, "envs": 2},
    "policy": {"name": "esper.policies.lstm:lstm"},
    "agent": {"name": "esper.agents.ppo:ppo"},
    "reward": {"name": "esper.rewards:contribution"},
    "runner": {"name": "esper.runners:sequential"},
}

#: The grown arm's seeds: slot -> (blueprint, seed params, {epoch: (stage, alpha)}).
_SEEDS: dict[str, tuple[str, int, dict[int, tuple[str, float]]]] = {
    "r0c0": ("conv_light", 592, {
        4: ("GERMINATED", 0.0), **{e: ("TRAINING", 0.0) for e in range(5, 9)},
        9: ("BLENDING", 1 / 3), 10: ("BLENDING", 2 / 3), 11: ("BLENDING", 1.0),
        12: ("HOLDING", 1.0), **{e: ("FOSSILIZED", 1.0) for e in range(13, 25)},
    }),
    "r1c1": ("attention", 1210, {
        10: ("GERMINATED", 0.0), **{e: ("TRAINING", 0.0) for e in range(11, 14)},
        14: ("BLENDING", 0.25), 15: ("PRUNED", 0.0),
        **{e: ("EMBARGOED", 0.0) for e in range(16, 19)}, 19: ("RESETTING", 0.0),
    }),
    "r0c2": ("depthwise", 348, {
        19: ("GERMINATED", 0.0), 20: ("TRAINING", 0.0), 21: ("TRAINING", 0.0),
        22: ("BLENDING", 0.2), 23: ("BLENDING", 0.5), 24: ("BLENDING", 0.8),
    }),
}  # fmt: skip
#: The grown arm's actions: epoch -> (operation, slot, applied).
_ACTIONS = {
    4: ("GERMINATE", "r0c0", True), 5: ("ADVANCE", "r0c0", True),
    7: ("ADVANCE", "r0c0", False), 9: ("ADVANCE", "r0c0", True),
    10: ("GERMINATE", "r1c1", True), 11: ("ADVANCE", "r1c1", True),
    13: ("FOSSILIZE", "r0c0", True), 14: ("ADVANCE", "r1c1", True),
    15: ("PRUNE", "r1c1", True), 19: ("GERMINATE", "r0c2", True),
    20: ("ADVANCE", "r0c2", True), 22: ("ADVANCE", "r0c2", True),
}  # fmt: skip
ROLLBACK_EPOCH = 17


def to_dicts(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [event_to_dict(e) for e in events]


def write_events(run_dir: Path, events: Iterable[dict[str, Any]], *, mode: str = "w") -> Path:
    """Write (or with ``mode="a"`` append) events as ``run_dir/events.jsonl`` lines."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "events.jsonl"
    with path.open(mode, encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event) + "\n")
    return path


def _accuracy(epoch: int, grown: bool) -> float:
    base = 30.0 + 40.0 * (1.0 - math.exp(-epoch / 8.0))
    if grown and epoch >= 13:
        base += 3.0
    if grown and epoch == ROLLBACK_EPOCH:
        base -= 9.0
    return round(base, 2)


def _slots_at(epoch: int) -> tuple[dict[str, str], dict[str, float], int]:
    stages = dict.fromkeys(SLOTS, "DORMANT")
    alphas: dict[str, float] = {}
    params = 0
    for slot, (_, seed_params, plan) in _SEEDS.items():
        if epoch in plan:
            stages[slot], alpha = plan[epoch]
            alphas[slot] = round(alpha, 4)
            params += (
                seed_params if plan[epoch][0] not in ("PRUNED", "EMBARGOED", "RESETTING") else 0
            )
    return stages, alphas, params


def _seed_events(epoch: int, ts: float) -> list[Event]:
    """The grown arm's seed events of one epoch (before its engine.epoch event)."""
    out: list[Event] = []
    for slot, (blueprint, seed_params, plan) in _SEEDS.items():
        if epoch not in plan:
            continue
        before = plan.get(epoch - 1, ("DORMANT", 0.0))[0]
        after = plan[epoch][0]
        if before == after:
            continue
        ids = {"seed_id": f"{slot}-{blueprint}-1", "slot_id": slot,
               "blueprint_id": f"esper.blueprints.cnn:{blueprint}"}  # fmt: skip
        common = {"run_id": RUN_ID, "epoch": epoch, "ts": ts}
        out.append(SeedStageChanged(**common, **ids, from_stage=before, to_stage=after,
                                    epochs_in_stage=0, epochs_total=0))  # fmt: skip
        if after == "GERMINATED":
            out.append(SeedGerminated(**common, **ids, seed_params=seed_params))
        elif after == "FOSSILIZED":
            out.append(SeedFossilized(**common, **ids, contribution=3.0, epochs_total=9,
                                      seed_params=seed_params))  # fmt: skip
        elif after == "PRUNED":
            out.append(SeedPruned(**common, **ids, from_stage=before, reason="policy",
                                  initiator="policy", auto=False, contribution=-0.8,
                                  epochs_total=5))  # fmt: skip
    return out


def _epoch(arm: str, epoch: int, ts: float, grown: bool) -> EpochCompleted:
    stages, alphas, seed_params = (
        _slots_at(epoch) if grown else (dict.fromkeys(SLOTS, "DORMANT"), {}, 0)
    )
    op, slot, ok = _ACTIONS.get(epoch, ("WAIT", None, True)) if grown else ("WAIT", None, True)
    accuracy = _accuracy(epoch, grown)
    return EpochCompleted(
        run_id=RUN_ID, epoch=epoch, ts=ts, arm=arm,
        train_loss=round(2.6 - accuracy / 40, 4), train_accuracy=accuracy + 2,
        val_loss=round(2.5 - accuracy / 40 + (6.0 if grown and epoch == ROLLBACK_EPOCH else 0), 4),
        val_accuracy=accuracy, params_total=HOST_PARAMS + seed_params, params_host=HOST_PARAMS,
        action=op, action_slot=slot, action_ok=ok, stages=stages, alphas=alphas,
    )  # fmt: skip


def growth_events(
    epochs: Iterable[int] = range(1, GROWTH_EPOCHS + 1),
    *,
    started: bool = True,
    finished: bool = False,
) -> list[dict[str, Any]]:
    """The events of the growth run's ``epochs`` (each epoch ten seconds after the last)."""
    events: list[Event] = []
    if started:
        events.append(RunStarted(run_id=RUN_ID, ts=T0, command="run", config=CONFIG))
    last = 0
    for epoch in epochs:
        ts = T0 + 10.0 * epoch
        events += _seed_events(epoch, ts)
        if epoch == ROLLBACK_EPOCH:
            events.append(GovernorPanic(run_id=RUN_ID, epoch=epoch, ts=ts,
                                        reason="governor_divergence", val_loss=9.21))  # fmt: skip
            events.append(GovernorRollback(run_id=RUN_ID, epoch=epoch, ts=ts,
                                           reason="governor_divergence", val_loss=9.21))  # fmt: skip
        events.append(_epoch("grown", epoch, ts + 4.0, grown=True))
        events.append(_epoch("static", epoch, ts + 8.0, grown=False))
        last = epoch
    if finished:
        events.append(RunEnded(run_id=RUN_ID, ts=T0 + 10.0 * last + 9.0, status="finished",
                               wall_time_s=10.0 * last + 9.0))  # fmt: skip
    return to_dicts(events)


# -- esper train ---------------------------------------------------------------------------------

T1 = T0 + 3600.0
TRAIN_UPDATES = 3
_BLUEPRINTS = ("conv_light", "attention", "norm")
#: Per environment, epoch -> (operation, slot, stage after, alpha after).
_TRAIN_PLANS: dict[int, dict[int, tuple[str, str | None, str, float]]] = {
    0: {1: ("GERMINATE", "r0c0", "GERMINATED", 0.0), 2: ("ADVANCE", "r0c0", "TRAINING", 0.0),
        3: ("ADVANCE", "r0c0", "BLENDING", 0.5), 4: ("WAIT", None, "BLENDING", 1.0)},
    1: {1: ("WAIT", None, "DORMANT", 0.0), 2: ("WAIT", None, "DORMANT", 0.0),
        3: ("GERMINATE", "r1c2", "GERMINATED", 0.0), 4: ("ADVANCE", "r1c2", "TRAINING", 0.0)},
}  # fmt: skip


def _metrics(u: int) -> dict[str, float]:
    return {
        "policy_loss": -0.1 * u, "value_loss": 1.5 - 0.3 * u, "approx_kl": 0.004 + 0.003 * u,
        "clip_fraction": 0.05 + 0.04 * u, "explained_variance": -0.2 + 0.35 * u,
        "explained_variance_after": -0.1 + 0.35 * u, "entropy_loss": -0.35,
        "entropy_coef": 0.05, "entropy_floor_penalty": 0.002, "entropy_op": 0.98 - 0.08 * u,
        "entropy_slot": 0.95 - 0.1 * u, "entropy_blueprint": 0.99 - 0.05 * u,
        "entropy_alpha_target": 0.9 - 0.1 * u,
    }  # fmt: skip


def _train_epoch(u: int, env: int, epoch: int) -> list[Event]:
    op, slot, stage, alpha = _TRAIN_PLANS[env][epoch]
    ts = T1 + 100.0 * u + 20.0 * epoch + env
    common = {"run_id": TRAIN_ID, "env_id": env, "epoch": epoch, "ts": ts}
    occupied = "r0c0" if env == 0 else "r1c2"
    stages = dict.fromkeys(SLOTS, "DORMANT")
    alphas: dict[str, float] = {}
    if stage != "DORMANT":
        stages[occupied], alphas[occupied] = stage, alpha
    out: list[Event] = []
    if op in ("GERMINATE", "ADVANCE") and slot is not None:
        blueprint = _BLUEPRINTS[u] if env == 0 else "depthwise"
        ids = {"seed_id": f"{slot}-{blueprint}-1", "slot_id": slot,
               "blueprint_id": f"esper.blueprints.cnn:{blueprint}"}  # fmt: skip
        before = "DORMANT" if op == "GERMINATE" else _TRAIN_PLANS[env][epoch - 1][2]
        out.append(SeedStageChanged(**common, **ids, from_stage=before, to_stage=stage,
                                    epochs_in_stage=0, epochs_total=epoch))  # fmt: skip
        if op == "GERMINATE":
            out.append(SeedGerminated(**common, **ids, seed_params=400 + 100 * env))
    if env == 1 and u == 1 and epoch == 3:
        out.append(GovernorPanic(**common, reason="governor_nan", val_loss=math.inf))
        out.append(GovernorRollback(**common, reason="governor_nan", val_loss=math.inf,
                                    seeds_pruned=["r1c2-depthwise-1"]))  # fmt: skip
    accuracy = round(20.0 + 5.0 * u + 2.0 * epoch + env, 2)
    out.append(EpochCompleted(
        **common, arm=f"env{env}", train_loss=2.4 - 0.05 * epoch, train_accuracy=accuracy,
        val_loss=round(2.3 - 0.04 * epoch - 0.02 * u, 4), val_accuracy=accuracy,
        params_total=HOST_PARAMS + (400 + 100 * env if stage != "DORMANT" else 0),
        params_host=HOST_PARAMS, action=op, action_slot=slot, stages=stages, alphas=alphas,
    ))  # fmt: skip
    return out


def train_events(updates: int = TRAIN_UPDATES, *, finished: bool = False) -> list[dict[str, Any]]:
    """The events of the training run's first ``updates`` updates."""
    events: list[Event] = [
        RunStarted(run_id=TRAIN_ID, ts=T1, command="train", config=TRAIN_CONFIG),
        ImitationFinished(run_id=TRAIN_ID, ts=T1 + 1, teacher="heuristic", episodes=4,
                          decisions=48, agreement_before=0.31, agreement_heldout=0.87),
    ]  # fmt: skip
    for u in range(updates):
        for epoch in range(1, 5):
            for env in (0, 1):
                events += _train_epoch(u, env, epoch)
        rewards = []
        for env in (0, 1):
            reward = round(0.2 + 0.15 * u - 0.1 * env - (0.5 if (env, u) == (1, 1) else 0), 3)
            rewards.append(reward)
            actions: dict[str, int] = {}
            for op, *_ in _TRAIN_PLANS[env].values():
                actions[op] = actions.get(op, 0) + 1
            events.append(EpisodeFinished(
                run_id=TRAIN_ID, env_id=env, epoch=4, ts=T1 + 100.0 * u + 90 + env,
                seed=1000 * u + env, epochs=4, val_accuracy=round(28.0 + 5.0 * u + env, 2),
                val_loss=2.1, reward=reward, rolled_back=(env, u) == (1, 1),
                params_total=HOST_PARAMS + 400 + 100 * env, seeds_fossilized=0, actions=actions,
            ))  # fmt: skip
        events.append(UpdateCompleted(
            run_id=TRAIN_ID, ts=T1 + 100.0 * u + 95, update=u, episodes=2,
            mean_reward=round(sum(rewards) / 2, 4), mean_accuracy=round(28.5 + 5.0 * u, 2),
            rollbacks=1 if u == 1 else 0, metrics=_metrics(u),
        ))  # fmt: skip
        if u == 1:
            events.append(TrainingAnomaly(run_id=TRAIN_ID, ts=T1 + 196, update=u,
                                          kind="ratio_explosion", value=5.2))  # fmt: skip
    if finished:
        wall = 100.0 * updates
        events.append(RunEnded(run_id=TRAIN_ID, ts=T1 + wall, status="finished", wall_time_s=wall))
    return to_dicts(events)
