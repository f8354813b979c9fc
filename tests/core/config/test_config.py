"""Config: TOML files, --set overrides, plugin config classes, and error reporting."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper.config import apply_override, load_raw, resolve, structure, unstructure
from esper.config.loading import parse_value
from esper.errors import ConfigError
from esper.plugin import PolicySpec, hookimpl
from esper.registry import Registries

from support.paths import DOCS


@attrs.frozen(kw_only=True)
class FakePolicyConfig:
    lr: float = attrs.field(default=3e-4, validator=attrs.validators.gt(0))
    hidden: int = attrs.field(
        default=64, validator=[attrs.validators.ge(1), attrs.validators.le(4096)]
    )


class FakePolicyPlugin:
    @hookimpl
    def esper_policies(self):
        yield PolicySpec(name="fake", factory="builtins:object", config_cls=FakePolicyConfig)


@pytest.fixture
def registries(esper_manager, register_plugin) -> Registries:
    register_plugin(FakePolicyPlugin(), name="fakeplug")
    return Registries(esper_manager)


def _problems(registries: Registries, raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        structure(raw, registries)
    return info.value.problems


def test_defaults_validate(registries) -> None:
    config = structure({}, registries)
    assert config.run.seed == 42
    assert list(config.sinks) == ["jsonl"]
    # A run needs no config at all: task, controller and governor have built-in defaults.
    assert {key: comp.id for key, comp in config.components.items()} == {
        "task": "esper.tasks.builtin:image",
        "policy": "esper.policies.heuristic:heuristic",
        "governor": "esper.governors.default:default",
    }


def test_component_section_is_structured_with_the_plugin_config_class(registries) -> None:
    config = structure({"policy": {"name": "fake", "lr": 0.01}}, registries)
    comp = config.components["policy"]
    assert comp.id == "fakeplug:fake"
    assert comp.options == FakePolicyConfig(lr=0.01)
    assert unstructure(config)["policy"] == {"name": "fakeplug:fake", "lr": 0.01, "hidden": 64}


def test_errors_carry_full_key_paths_and_validator_messages(registries) -> None:
    problems = _problems(
        registries,
        {
            "run": {"seed": "x", "sede": 1},
            "policy": {"name": "fake", "lr": -1.0, "hiden": 3},
            "polcy": {},
        },
    )
    assert "config.run.seed: expected int, got str ('x')" in problems
    assert "config.run.sede: unknown key" in problems
    assert "config.policy.hiden: unknown key" in problems
    assert any(p.startswith("config.polcy: unknown key") for p in problems)


def test_validator_message_is_kept(registries) -> None:
    problems = _problems(registries, {"policy": {"name": "fake", "lr": -1.0}})
    assert problems == ["config.policy.lr: must be > 0: -1.0"]


def test_out_of_range_and_wrong_types(registries) -> None:
    # Type errors are reported first: attrs validators run only once every field has its type.
    assert _problems(registries, {"run": {"epochs": 0, "checkpoint_every": 2.5}}) == [
        "config.run.checkpoint_every: expected int, got float (2.5)"
    ]
    problems = _problems(registries, {"run": {"epochs": 0, "device": "tpu"}})
    assert problems == ["config.run.device: must be cpu, cuda, cuda:N, mps or auto, got 'tpu'"]
    problems = _problems(registries, {"run": {"epochs": 0}})
    assert problems == ["config.run.epochs: must be > 0: 0"]


def test_booleans_are_not_integers(registries) -> None:
    assert _problems(registries, {"run": {"seed": True}}) == [
        "config.run.seed: expected int, got a boolean (True)"
    ]


def test_unknown_component_name_lists_choices(registries) -> None:
    problems = _problems(registries, {"policy": {"name": "fak"}})
    assert len(problems) == 1
    assert problems[0].startswith("config.policy.name: unknown policy 'fak'. Did you mean: fake?")
    assert "Available: " in problems[0]
    assert "fakeplug:fake" in problems[0]


def test_sink_options_validated(registries) -> None:
    problems = _problems(
        registries, {"telemetry": {"sinks": {"console": {"level": "loud"}, "nosuch": {}}}}
    )
    assert any(p.startswith("config.telemetry.sinks.console.level: must be in") for p in problems)
    assert any(
        p.startswith("config.telemetry.sinks.nosuch: unknown telemetry sink 'nosuch'")
        for p in problems
    )


def test_sinks_as_a_list_select_defaults(registries) -> None:
    config = structure({"telemetry": {"sinks": ["console", "jsonl"]}}, registries)
    assert sorted(config.sinks) == ["console", "jsonl"]


def test_toml_file_then_overrides(tmp_path: Path, registries) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[run]\nseed = 3\n[policy]\nname = "fake"\nhidden = 8\n', encoding="utf-8")
    config = resolve(registries, [path], ["policy.hidden=16", "run.device=cuda:1"])
    assert config.run.seed == 3
    assert config.run.device == "cuda:1"
    assert config.components["policy"].options.hidden == 16


def test_later_files_win_and_tables_merge(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text("[run]\nseed = 1\nepochs = 5\n", encoding="utf-8")
    b.write_text("[run]\nseed = 2\n", encoding="utf-8")
    assert load_raw([a, b]) == {"run": {"seed": 2, "epochs": 5}}


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[run\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML.*line 1"):
        load_raw([path])
    with pytest.raises(ConfigError, match="does not exist"):
        load_raw([tmp_path / "missing.toml"])


def test_override_values_are_toml_literals() -> None:
    assert parse_value("3") == 3
    assert parse_value("1e-3") == 0.001
    assert parse_value("true") is True
    assert parse_value('["a", "b"]') == ["a", "b"]
    assert parse_value("cuda:0") == "cuda:0"  # not TOML: kept as a string


def test_override_rejects_malformed_assignments() -> None:
    raw: dict = {"run": {"seed": 1}}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_override(raw, "run.seed")
    with pytest.raises(ConfigError, match="is a value, not a table"):
        apply_override(raw, "run.seed.deep=1")


def test_required_plugins_checked(registries) -> None:
    problems = _problems(
        registries, {"required_plugins": ["esper-no-such-dist>=1", "esper-nn>=999"]}
    )
    assert any("esper-no-such-dist is not installed" in p for p in problems)
    assert any("'esper-nn>=999' is required" in p for p in problems)
    assert structure({"required_plugins": ["esper-nn>=0.1"]}, registries).required_plugins == (
        "esper-nn>=0.1",
    )


_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    raw=st.dictionaries(
        st.sampled_from(["run", "policy", "telemetry", "task", "x"]), _junk, max_size=4
    )
)
def test_arbitrary_input_gives_config_error_or_valid_config(raw, esper_manager) -> None:
    registries = Registries(esper_manager)
    problems: list[str] = []
    try:
        structure(raw, registries)
    except ConfigError as exc:
        problems = exc.problems or ["<ConfigError without problems>"]
    assert all(p.startswith("config") for p in problems), problems


def test_the_reference_example_in_docs_validates(tmp_path: Path) -> None:
    import re

    from esper.registry.manager import build_manager

    text = (DOCS / "config.md").read_text()
    example = re.search(r"```toml\n(.*?)```", text, re.S)
    assert example is not None
    # The template plugin is not installed in the test environment.
    body = "\n".join(
        line for line in example.group(1).splitlines() if not line.startswith("required_plugins")
    )
    path = tmp_path / "example.toml"
    path.write_text(body)
    config = structure(load_raw([path]), Registries(build_manager(autoload=False)))
    assert config.compile.limit == 64
    assert config.run.epochs == 25
