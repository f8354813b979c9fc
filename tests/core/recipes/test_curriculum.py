"""Cheap episodes: the first ``train.cheap_share`` of the updates, and the imitation
episodes, train ``train.cheap_batches`` of each epoch's batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from esper.recipes.factory import EnvironmentFactory, resolve_device
from esper.registry import Registries

from support.training import small_config, train

FOUR_BATCHES = ["task.train_size=512", "run.batches_per_epoch=0", "train.cheap_batches=0.25"]


def test_the_first_updates_are_cheap_and_the_last_is_full(
    registries: Registries, tmp_path: Path
) -> None:
    config = small_config(
        registries, tmp_path, *FOUR_BATCHES, "train.episodes=6", "train.cheap_share=0.75"
    )
    run = train(registries, config)
    summary = json.loads((run.session.run_dir / "summary.json").read_text())
    history = summary["history"]
    # floor(0.75 x 3 updates) = 2 cheap updates, then a full one.
    assert summary["cheap_updates"] == 2
    assert [h["cheap"] for h in history] == [True, True, False]
    assert [h["batches_per_epoch"] for h in history] == [1, 1, 4]  # 512 images, batches of 128
    assert [h["decisions"] for h in history] == [2 * 3] * 3
    assert summary["decisions"] == 18
    # A cheap epoch trains one batch of four: a quarter of the host-training FLOPs (the
    # seeds the controller grew make the counts differ a little between updates).
    cheap, full = history[0]["flops_train"], history[2]["flops_train"]
    assert 0.15 < cheap / full < 0.4
    rates = summary["decisions_per_hour"]
    assert rates["cheap"] > 0
    assert rates["full"] > 0


@pytest.mark.parametrize(("share", "cheap"), [(0.0, [False, False]), (1.0, [True, True])])
def test_cheap_share_zero_and_one(
    registries: Registries, tmp_path: Path, share: float, cheap: list[bool]
) -> None:
    config = small_config(registries, tmp_path, *FOUR_BATCHES, f"train.cheap_share={share}")
    run = train(registries, config)
    assert [h["cheap"] for h in run.history] == cheap
    rates = run.summary()["decisions_per_hour"]
    assert (rates["cheap"] is None) == (share == 0.0)
    assert (rates["full"] is None) == (share == 1.0)


def test_imitation_episodes_are_cheap(registries: Registries, tmp_path: Path) -> None:
    config = small_config(
        registries,
        tmp_path,
        *FOUR_BATCHES,
        "train.init='imitate:heuristic'",
        "train.imitation_episodes=1",
        "train.imitation_heldout=0",
        "train.episodes=2",
    )
    run = train(registries, config)
    assert run.imitation is not None
    assert run.imitation["batches_per_epoch"] == 1
    assert run.imitation["wall_time_s"] > 0


def test_a_cheaper_factory_shares_the_data_and_caps_batches(
    registries: Registries, tmp_path: Path
) -> None:
    config = small_config(registries, tmp_path, "run.batches_per_epoch=0")
    factory = EnvironmentFactory.from_config(config, registries, device=resolve_device("cpu"))
    # 256 training images in batches of 128 (the tiny task): two per epoch.
    assert factory.epoch_batches() == 2
    half = factory.cheaper(0.5)
    assert half.epoch_batches() == 1
    assert half.config.run.batches_per_epoch == 1
    assert half.data is factory.data
    assert half.policy is factory.policy
    # Never less than one batch.
    assert factory.cheaper(0.01).epoch_batches() == 1
    env = half(0, 7)
    assert env.loop.batches_per_epoch == 1


def test_cheap_options_are_validated(registries: Registries, tmp_path: Path) -> None:
    from esper.errors import ConfigError

    for bad in ("train.cheap_share=1.5", "train.cheap_batches=0", "train.cheap_batches=2"):
        with pytest.raises(ConfigError, match="cheap_"):
            small_config(registries, tmp_path, bad)


def test_the_shipped_recipe_resolves_and_trains(registries: Registries, tmp_path: Path) -> None:
    """configs/train-image.toml (docs/training.md, "The recipe") stays a valid config: it
    resolves as written and, shrunk to the tiny task, runs end to end."""
    from esper.config import resolve

    recipe = Path(__file__).resolve().parents[3] / "configs" / "train-image.toml"
    config = resolve(registries, files=[recipe])
    assert config.train.init == "imitate:heuristic"
    assert config.components["policy"].options.normalize_observations
    assert config.components["agent"].options.entropy_anneal_updates == 16
    shrunk = resolve(
        registries,
        files=[recipe],
        overrides=[
            "task.train_size=256",
            "task.val_size=128",
            "run.epochs=3",
            "train.episodes=4",
            "train.imitation_episodes=1",
            "train.imitation_heldout=1",
            "policy.hidden_dim=16",
            "policy.feature_dim=16",
            f"run.out={json.dumps(str(tmp_path))}",
        ],
    )
    run = train(registries, shrunk)
    assert run.update == 2
    assert run.imitation is not None
    norm = run.policy.network.obs_norm
    # The taught episode (3 decisions; the held-out one is only measured) and both rollouts
    # (2 x 2 x 3) were folded in.
    assert norm is not None
    assert norm.count.item() == 3 + 12
