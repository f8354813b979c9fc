"""Every numeric config option has a range: floats reject NaN and +-inf, ints an absurd size.

The walk covers the core sections, the lifecycle gates and the config class of every built-in
registered component (tasks, hosts, blueprints, policies, rewards, agents, governors, runners,
sinks). A new numeric option without a bound fails here. The options whose value reaches an
exponential or a generator seed are also checked against what they feed.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import attrs
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from esper.bounds import MAX_EPOCHS, MAX_SEED, finite, is_finite_number
from esper.config import CompileSection, RunSection, TrainSection, structure
from esper.config.schema import COMPONENT_KINDS
from esper.errors import ConfigError
from esper.lifecycle import GateConfig
from esper.recipes.train import SEED_STRIDE
from esper.registry import Registries
from esper.registry.manager import build_manager
from esper.testing import ABSURD, check_numeric_bounds, numeric_options
from esper_plugins.agents.config import MAX_LOG_RATIO_CLAMP, PPOConfig
from esper_plugins.agents.ppo import clipped_surrogate, head_ratios
from esper_plugins.policies.config import LSTMConfig
from esper_plugins.rewards.config import MAX_SIGMOID_STEEPNESS, ContributionRewardConfig
from esper_plugins.rewards.shaping import logistic
from esper_plugins.tasks.config import TextTaskConfig

KINDS = (
    "tasks",
    "hosts",
    "blueprints",
    "policies",
    "rewards",
    "agents",
    "governors",
    "runners",
    "telemetry_sinks",
)
CORE: dict[str, type] = {
    "run": RunSection,
    "train": TrainSection,
    "compile": CompileSection,
    "lifecycle": GateConfig,
}
#: Options without a default, by class.
REQUIRED: dict[type, dict[str, Any]] = {TextTaskConfig: {"path": "corpus.txt"}}
_KIND_TABLE = {kind: table for table, kind in COMPONENT_KINDS.items()}


def _registries() -> Registries:
    return Registries(build_manager(autoload=False))


def _tables() -> dict[type, tuple[str, dict[str, Any]]]:
    """Each config class -> the config table that selects it and the table's base content."""
    tables: dict[type, tuple[str, dict[str, Any]]] = {cls: (name, {}) for name, cls in CORE.items()}
    registries = _registries()
    for kind in KINDS:
        for entry in registries[kind]:
            cls = entry.spec.load_config_cls()
            if cls is None or cls in tables:
                continue
            if kind == "telemetry_sinks":
                tables[cls] = (f"telemetry.sinks.{entry.id}", {})
            elif kind in _KIND_TABLE:
                tables[cls] = (_KIND_TABLE[kind], {"name": entry.id, **REQUIRED.get(cls, {})})
            else:  # hosts and blueprints are configured inside a task, not by a table
                tables[cls] = ("", {})
    return tables


TABLES = _tables()


def _numeric_fields() -> list[tuple[type, attrs.Attribute[Any], type]]:
    found = []
    for cls in sorted(TABLES, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        found += [(cls, field, kind) for field, kind in numeric_options(cls)]
    return found


def test_the_walk_reaches_every_kind_of_config_class() -> None:
    modules = {cls.__module__ for cls in TABLES}
    for package in ("agents", "governors", "policies", "rewards", "tasks"):
        assert f"esper_plugins.{package}.config" in modules
    assert {
        "esper_plugins.blueprints.cnn.config",
        "esper_plugins.blueprints.transformer.config",
    } <= modules
    assert {RunSection, TrainSection, CompileSection, GateConfig} <= set(TABLES)
    assert sum(len(ABSURD[kind]) for _, _, kind in _numeric_fields()) > 200


@pytest.mark.parametrize(
    "cls",
    sorted(TABLES, key=lambda c: f"{c.__module__}.{c.__qualname__}"),
    ids=lambda c: c.__name__,
)
def test_numeric_options_reject_nan_infinity_and_absurd_ints(cls: type) -> None:
    # The helper plugin authors get (esper.testing) checks esper's own classes too.
    checked = check_numeric_bounds(cls, **REQUIRED.get(cls, {}))
    assert checked == [field.name for c, field, _ in _numeric_fields() if c is cls]


LOADER_CASES = [
    pytest.param(cls, field, value, id=f"{TABLES[cls][0]}.{field.name}={value!r}")
    for cls, field, kind in _numeric_fields()
    if TABLES[cls][0]
    for value in ABSURD[kind][:2]
]


@pytest.mark.parametrize(("cls", "field", "value"), LOADER_CASES)
def test_the_loader_names_the_full_key(cls: type, field: attrs.Attribute[Any], value: Any) -> None:
    path, table = TABLES[cls]
    raw: dict[str, Any] = {}
    node = raw
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = {**table, field.name: value}
    with pytest.raises(ConfigError) as info:
        structure(raw, _registries())
    key = f"config.{path}.{field.name}: "
    assert any(p.startswith(key) for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("run.seed=99999999999999999999999", "config.run.seed"),
        ("train.checkpoint_every=99999999999999999999999", "config.train.checkpoint_every"),
        ("compile.limit=99999999999999999999999", "config.compile.limit"),
        (
            "lifecycle.min_blending_epochs=99999999999999999999999",
            "config.lifecycle.min_blending_epochs",
        ),
        ("lifecycle.min_gradient_ratio=inf", "config.lifecycle.min_gradient_ratio"),
    ],
)
def test_cli_exits_2_naming_the_key(esper_cli: Any, assignment: str, key: str) -> None:
    result = esper_cli("config", "show", "--set", assignment)
    assert result.exit_code == 2, result.output
    assert f"{key}: " in result.output
    assert "Traceback" not in result.output


def test_seed_bound_fits_every_generator_the_engine_seeds() -> None:
    RunSection(seed=MAX_SEED)
    LSTMConfig(init_seed=MAX_SEED)
    for bad in (MAX_SEED + 1, 99999999999999999999999):
        with pytest.raises(ValueError, match="'seed' must be <="):
            RunSection(seed=bad)
    # A run seeds seed, seed + 1 and seed + 2 (signed 64-bit); training adds a stride per
    # episode, which torch's unsigned 64-bit seed range still takes.
    torch.Generator().manual_seed(MAX_SEED + 2)
    assert MAX_SEED + 2 == 2**63 - 1
    most = 1_000_000 + 4096  # train.episodes and train.envs at their bounds
    torch.Generator().manual_seed(MAX_SEED + 2 + most * SEED_STRIDE)


def test_gate_epoch_bound_is_the_run_bound() -> None:
    GateConfig(min_training_epochs=MAX_EPOCHS, min_blending_epochs=MAX_EPOCHS)
    with pytest.raises(ValueError, match=f"must be <= {MAX_EPOCHS}"):
        GateConfig(min_training_epochs=MAX_EPOCHS + 1)
    RunSection(epochs=MAX_EPOCHS)
    with pytest.raises(ValueError, match="'epochs'"):
        RunSection(epochs=MAX_EPOCHS + 1)


@given(
    c=st.floats(min_value=0.0, max_value=200.0)
    | st.sampled_from([40.0, 88.0, 88.8, 100.0, 1e300, math.inf, math.nan])
)
def test_every_accepted_log_ratio_clamp_keeps_the_ratio_finite(c: float) -> None:
    try:
        config = PPOConfig(log_ratio_clamp=c)
    except ValueError:
        return
    limit = torch.tensor(config.log_ratio_clamp, dtype=torch.float32)
    assert torch.isfinite(torch.exp(limit))
    # The worst case PPO meets: the largest gap, a normalised advantage of -sqrt(n) for a
    # rollout of n = 4e8 samples, summed over the samples and the eight heads.
    ratio, _ = head_ratios(torch.tensor([1e4]), torch.tensor([0.0]), config.log_ratio_clamp)
    loss = clipped_surrogate(ratio, torch.tensor([-2e4]), config.clip) * 4e8 * 8
    assert torch.isfinite(loss).all()


def test_log_ratio_clamp_bound_is_exact() -> None:
    assert PPOConfig(log_ratio_clamp=MAX_LOG_RATIO_CLAMP).log_ratio_clamp == 40.0
    with pytest.raises(ValueError, match="log_ratio_clamp"):
        PPOConfig(log_ratio_clamp=math.nextafter(MAX_LOG_RATIO_CLAMP, math.inf))


def test_sigmoid_steepness_cannot_overflow_the_discount() -> None:
    k = ContributionRewardConfig(sigmoid_steepness=MAX_SIGMOID_STEEPNESS).sigmoid_steepness
    for cf in (-100.0, -1.0, -1e-9):  # a counterfactual loss, in accuracy points
        assert math.isfinite(k * cf)
        assert 0.0 <= logistic(k * cf) <= 0.5
    with pytest.raises(ValueError, match="sigmoid_steepness"):
        ContributionRewardConfig(sigmoid_steepness=math.nextafter(MAX_SIGMOID_STEEPNESS, math.inf))


@pytest.mark.parametrize(
    ("cls", "field", "table"),
    [
        (PPOConfig, "entropy_multipliers", {"op": math.inf}),
        (PPOConfig, "entropy_multipliers", {"op": math.nan}),
        (PPOConfig, "entropy_floors", {"slot": math.nan}),
        (LSTMConfig, "floors", {"op": math.inf}),
        (LSTMConfig, "floors", {"op": math.nan}),
    ],
)
def test_per_head_tables_reject_nan_and_infinity(
    cls: type, field: str, table: dict[str, float]
) -> None:
    with pytest.raises(ValueError, match=field):
        cls(**{field: table})


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, True, "1", None, 10**400, float("-nan")]
)
def test_finite_rejects_what_is_no_finite_float(value: object) -> None:
    assert not is_finite_number(value)
    with pytest.raises(ValueError, match=r"^'x' must be a finite number, got "):
        finite(None, attrs.fields(_X).x, value)


@pytest.mark.parametrize("value", [0, -3, 1e-300, -1.5e308, 2**63])
def test_finite_accepts_finite_numbers(value: float) -> None:
    assert is_finite_number(value)
    finite(None, attrs.fields(_X).x, value)


@attrs.frozen
class _X:
    x: float = attrs.field(validator=finite)


def test_plugin_api_exports_the_bounds_without_torch() -> None:
    code = (
        "import sys; from esper.plugin import MAX_SEED, MAX_WIDTH, MAX_EPOCHS, finite, "
        "is_finite_number; import esper.plugin as p; "
        "assert set(p.__all__) <= set(vars(p)) | set(p._LAZY); print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
