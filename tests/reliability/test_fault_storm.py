"""A storm of NaN losses and loss spikes: the governor rolls back each one and the run goes on."""

from __future__ import annotations

import math
from typing import Any

import pytest

from esper.contracts.actions import Action, Op
from esper_plugins.governors.default import DefaultGovernor

from support import faults
from support.envs import tiny_env
from support.figures import record
from support.tinyruns import one_thread

pytestmark = pytest.mark.stress


def test_a_storm_of_nans_and_spikes_is_survived_by_the_governor(registries, monkeypatch) -> None:
    """Six NaN losses and two spike series over 40 epochs: one rollback each, and the host
    still learns (its loss after the storm is below its loss before the first fault)."""
    nan_epochs = [8, 13, 17, 24, 29, 35]
    spike_epochs = [19, 20, 21, 31, 32, 33]  # three in a row: min_panics of the default governor
    faults.poison_losses(
        nan=[("grown", e) for e in nan_epochs],
        spikes=[("grown", e) for e in spike_epochs],
        patch=monkeypatch.setattr,
    )
    events: list[Any] = []
    env = tiny_env(
        registries,
        governor=lambda info: DefaultGovernor(task=info, emit=events.append),
        max_epochs=40,
        emit=events.append,
        min_training_epochs=1,
    )
    results_by_epoch = {}
    with one_thread():
        for _ in range(40):
            if env.epoch in (10, 26):
                env.apply(Action(op=Op.GERMINATE, slot="r0c1", blueprint="conv_light"))
            epoch = env.epoch + 1
            results_by_epoch[epoch] = env.step()
    rollbacks = [e for e in events if e.type == "governor.rollback"]
    assert [(r.epoch, r.reason) for r in rollbacks] == [
        *[(e, "governor_nan") for e in nan_epochs[:3]],
        (21, "governor_divergence"),
        *[(e, "governor_nan") for e in nan_epochs[3:5]],
        (33, "governor_divergence"),
        (35, "governor_nan"),
    ]
    assert [e for e, r in results_by_epoch.items() if r.rolled_back] == sorted(
        [*nan_epochs, 21, 33]
    )
    final = results_by_epoch[40]
    assert math.isfinite(final.val_loss)
    assert final.val_loss < results_by_epoch[7].val_loss
    assert env.epoch == 40
    record("test_fault_storm", injected_nan=6, survived_nan=6, injected_spike=2, survived_spike=2)
