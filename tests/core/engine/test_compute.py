"""The FLOPs an environment charges per epoch (esper.engine.compute), against hand counts."""

from __future__ import annotations

from typing import Any

from esper.contracts.actions import Action
from esper.contracts.policy import Policy
from esper.contracts.signals import Signals
from esper.engine.events import EpochCompleted
from esper.registry import Registries

from support.envs import tiny_env

# TinyCNN on one 3x8x8 image (tests/core/growth/test_flops.py has the layer by layer count):
# forward 23,120 FLOPs; backward 32,416 (every weight gradient, every input gradient but the
# image's).
FORWARD, BACKWARD = 23_120, 32_416
TRAIN, VAL = 256, 128  # TinyImageTask's samples


def test_each_epoch_charges_its_trained_and_evaluated_samples(registries: Registries) -> None:
    events: list[Any] = []
    env = tiny_env(registries, emit=events.append)
    results = [env.step() for _ in range(2)]
    per_epoch_train = (FORWARD + BACKWARD) * TRAIN
    per_epoch_eval = FORWARD * VAL  # one configuration: no seed is blended
    assert [r.flops_train for r in results] == [per_epoch_train, 2 * per_epoch_train]
    assert [r.flops_evaluate for r in results] == [per_epoch_eval, 2 * per_epoch_eval]
    epochs = [e for e in events if isinstance(e, EpochCompleted)]
    assert [e.flops_train for e in epochs] == [r.flops_train for r in results]
    assert env.compute.summary() == {
        "train": 2 * per_epoch_train,
        "evaluate": 2 * per_epoch_eval,
        "control": 0,  # the static controller does no arithmetic
        "total": 2 * (per_epoch_train + per_epoch_eval),
    }


def test_a_capped_epoch_charges_only_the_batches_it_trained(registries: Registries) -> None:
    env = tiny_env(registries, batches_per_epoch=3)  # 3 batches of 32
    assert env.step().flops_train == (FORWARD + BACKWARD) * 96


def test_the_tally_is_checkpointed_and_a_resume_goes_on_counting(registries: Registries) -> None:
    straight = tiny_env(registries)
    for _ in range(3):
        straight.step()
    first = tiny_env(registries)
    first.step()
    resumed = tiny_env(registries)
    resumed.load_state_dict(first.state_dict())
    assert resumed.compute.summary() == first.compute.summary()
    for _ in range(2):
        resumed.step()
    assert resumed.compute.summary() == straight.compute.summary()
    # A checkpoint from before FLOPs were counted resumes with the count starting at zero.
    old = first.state_dict()
    del old["flops"]
    again = tiny_env(registries)
    again.load_state_dict(old)
    assert again.compute.summary()["total"] == 0


def test_a_flop_budget_stops_at_the_first_batch_that_reaches_it(registries: Registries) -> None:
    per_sample = FORWARD + BACKWARD
    # One full epoch (8 batches of 32) and 2.5 batches more: epoch 2 trains 3 batches.
    budget = per_sample * (TRAIN + 80)
    env = tiny_env(registries, budget_flops=budget)
    first = env.step()
    assert first.flops_train == per_sample * TRAIN
    assert not env.finished
    second = env.step()
    assert second.flops_train == per_sample * (TRAIN + 96)
    assert env.finished
    assert env.epoch == 2
    # Without a budget the same environment would go on to max_epochs.
    assert not tiny_env(registries).finished


def test_a_budget_only_lowers_the_configured_batch_cap(registries: Registries) -> None:
    env = tiny_env(registries, batches_per_epoch=2, budget_flops=10**15)
    assert env.step().flops_train == (FORWARD + BACKWARD) * 64


class _CountedController(Policy):
    """Waits every epoch and declares a fixed cost per decision."""

    def __init__(self) -> None:
        self.decisions = 0

    def decide(self, signals: Signals) -> Action:
        self.decisions += 1
        return Action()

    def decision_flops(self) -> int:
        return 1_000


def test_the_controllers_decisions_are_charged_apart_from_training(registries: Registries) -> None:
    events: list[Any] = []
    static = tiny_env(registries)
    controller = _CountedController()
    env = tiny_env(registries, policy=controller, emit=events.append)
    results = [env.step() for _ in range(3)]
    for _ in range(3):
        static.step()
    assert controller.decisions == 3
    assert [r.flops_control for r in results] == [1_000, 2_000, 3_000]
    epochs = [e for e in events if isinstance(e, EpochCompleted)]
    assert [e.flops_control for e in epochs] == [1_000, 2_000, 3_000]
    summary = env.compute.summary()
    # Deciding costs the host nothing: its training and evaluation match the static run's.
    assert summary["train"] == static.compute.summary()["train"]
    assert summary["control"] == 3_000
    assert summary["total"] == summary["train"] + summary["evaluate"] + 3_000
    resumed = tiny_env(registries, policy=_CountedController())
    resumed.load_state_dict(env.state_dict())
    assert resumed.compute.control == 3_000
