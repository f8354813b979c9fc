"""The reward plugin's registration, configs and the gamma rule (review T1-2)."""

from __future__ import annotations

import subprocess
import sys

import attrs
import pytest

from esper.config.loading import converter
from esper.contracts.reward import RewardFunction
from esper_plugins.rewards import esper_rewards
from esper_plugins.rewards.config import (
    ContributionRewardConfig,
    LossRewardConfig,
    SimplifiedRewardConfig,
    SparseRewardConfig,
)
from esper_plugins.rewards.contribution import ContributionReward
from esper_plugins.rewards.loss import LossReward
from esper_plugins.rewards.simplified import SimplifiedReward
from esper_plugins.rewards.sparse import SparseReward

from support.rewards import step, view

SHAPED = [
    (ContributionReward, ContributionRewardConfig),
    (LossReward, LossRewardConfig),
    (SimplifiedReward, SimplifiedRewardConfig),
]


def test_hook_registers_four_rewards_that_build():
    specs = {spec.name: spec for spec in esper_rewards()}
    assert sorted(specs) == ["contribution", "loss", "simplified", "sparse"]
    for spec in specs.values():
        config_cls = spec.load_config_cls()
        assert config_cls is not None
        assert attrs.has(config_cls)
        built = spec.load_factory()(config_cls(), gamma=0.99)
        assert isinstance(built, RewardFunction)
        assert spec.load_factory()(None, gamma=0.99).config == config_cls()
        out = built(step([view("r0c0")], epoch=1))
        assert out.total == sum(out.components.values())


def test_hook_module_and_configs_do_not_import_torch():
    code = (
        "import sys, esper_plugins.rewards, esper_plugins.rewards.config; "
        "list(esper_plugins.rewards.esper_rewards()); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_configs_structure_from_toml_tables():
    cfg = converter.structure(
        {"gamma": 0.99, "pbrs_weight": 0.2, "disable_anti_gaming": True}, ContributionRewardConfig
    )
    assert cfg.gamma == 0.99
    assert cfg.pbrs_weight == 0.2
    assert cfg.disable_anti_gaming
    assert converter.structure({}, SparseRewardConfig) == SparseRewardConfig()


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (ContributionRewardConfig, {"gamma": 1.5}),
        (ContributionRewardConfig, {"gamma": 0.0}),
        (ContributionRewardConfig, {"pbrs_weight": -1.0}),
        (ContributionRewardConfig, {"early_germination_floor": 2.0}),
        (LossRewardConfig, {"typical_loss_std": 0.0}),
        (LossRewardConfig, {"gamma": float("nan")}),
        (SparseRewardConfig, {"scale": 0.0}),
        (SimplifiedRewardConfig, {"action_cost": float("inf")}),
    ],
)
def test_configs_refuse_bad_values(cls, options):
    with pytest.raises(ValueError):  # noqa: PT011  (the validators' messages vary)
        cls(**options)


@pytest.mark.parametrize(("reward_cls", "config_cls"), SHAPED)
def test_gamma_mismatch_raises_citing_ng_et_al(reward_cls, config_cls):
    with pytest.raises(ValueError, match=r"Ng et al\., 1999") as info:
        reward_cls(config_cls(gamma=0.99), gamma=0.995)
    assert "PBRS gamma (0.99)" in str(info.value)
    assert "(0.995)" in str(info.value)
    # Unset (the agent's) or equal gammas are fine.
    assert reward_cls(config_cls(), gamma=0.995).gamma == 0.995
    assert reward_cls(config_cls(gamma=0.995), gamma=0.995).gamma == 0.995


def test_gamma_mismatch_still_raises_under_python_O():
    code = (
        "from esper_plugins.rewards.config import ContributionRewardConfig\n"
        "from esper_plugins.rewards.contribution import ContributionReward\n"
        "assert False, 'asserts are on'\n"
        "try:\n"
        "    ContributionReward(ContributionRewardConfig(gamma=0.9), gamma=0.995)\n"
        "except ValueError as exc:\n"
        "    print('raised:', exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "raised: PBRS gamma (0.9) must equal the agent's gamma (0.995)" in result.stdout
    assert "Ng et al., 1999" in result.stdout


@pytest.mark.parametrize("gamma", [0.0, -0.5, 1.01, float("nan"), float("inf")])
@pytest.mark.parametrize("reward_cls", [*(cls for cls, _ in SHAPED), SparseReward])
def test_bad_agent_gamma_is_refused(reward_cls, gamma):
    with pytest.raises(ValueError, match="agent's gamma"):
        reward_cls(None, gamma=gamma)


def test_wrong_config_type_is_refused():
    with pytest.raises(TypeError, match="LossRewardConfig"):
        LossReward(SparseRewardConfig(), gamma=0.99)  # type: ignore[arg-type]
