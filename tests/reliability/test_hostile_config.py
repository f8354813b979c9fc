"""Hostile configuration: generated config files and ``--set`` values through the CLI.

Wrong types, unknown keys, out-of-range numbers, tables where values belong (and the
reverse), broken TOML, bytes that are not UTF-8: the command either accepts the input or exits
with status 2, naming the key path (or the file), and never shows a traceback. The CLI runs in
this process with exceptions propagating, so any error that is not a deliberate `EsperError`
fails the test. ``nox -s stress`` runs the same properties with many more inputs
(HYPOTHESIS_PROFILE=stress).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper.config import resolve, unstructure
from esper.registry import Registries
from esper.registry.manager import build_manager

from support.figures import record
from support.tinyruns import invoke, one_thread

pytestmark = pytest.mark.stress

#: Examples per property: the profile's (100 by default, 1000 under the stress profile),
#: scaled down where each example costs a whole command.
EXAMPLES = settings.default.max_examples
FUZZ = settings(
    max_examples=max(EXAMPLES // 2, 10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FUZZ_RUNS = settings(
    max_examples=max(EXAMPLES // 10, 5),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Components that `esper train` adds, so that their keys are known leaves too.
TRAIN_COMPONENTS = {"agent": "ppo", "reward": "contribution", "runner": "vectorized"}

fuzzed: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    record("test_hostile_config", **{f"fuzzed_{k}": v for k, v in fuzzed.items()})


def _flatten(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, path + ".")
        else:
            yield path, value


@pytest.fixture(scope="module")
def leaves() -> list[tuple[str, Any]]:
    """Every key of a full configuration (run and train components) with its default value."""
    registries = Registries(build_manager(autoload=False))
    overrides = [f"{k}.name={v!r}" for k, v in TRAIN_COMPONENTS.items()]
    data = unstructure(resolve(registries, overrides=overrides))
    return [(p, v) for p, v in _flatten(data) if not p.endswith(".name")]


# -- values ------------------------------------------------------------------------------------

_scalars = (
    st.text(max_size=12)
    | st.integers()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=6,
)
_extreme_numbers = st.sampled_from(
    [0, -1, -(2**31), 2**31, 2**63 - 1, -(2**63), 10**30, 0.0, -0.0, 1e-300, -1e300, 1e300]
) | st.floats(allow_nan=True, allow_infinity=True)
_key = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _base(path: str) -> dict[str, Any]:
    """The smallest raw config in which ``path`` is a known key."""
    raw: dict[str, Any] = {}
    head = path.split(".")[0]
    if head in TRAIN_COMPONENTS:
        raw[head] = {"name": TRAIN_COMPONENTS[head]}
    return raw


def _check(result: Any, *paths: str) -> None:
    """Accepted, or exit 2 naming one of ``paths``; never a traceback."""
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code in (0, 2), output
    if result.exit_code == 2:
        assert output.startswith("Error: "), output
        named = [p for p in paths if re.search(re.escape(p) + r"(?:[:.\[]|\b)", output)]
        assert named, f"none of {paths} named in:\n{output}"


# -- config files ------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_hostile_config_file_exits_2_with_the_key_path(
    data: st.DataObject, leaves: list[tuple[str, Any]], tmp_path: Path
) -> None:
    path, default = data.draw(st.sampled_from(leaves), label="key")
    mutation = data.draw(
        st.sampled_from(["wrong_type", "out_of_range", "unknown_key", "table_for_value"]),
        label="mutation",
    )
    raw = _base(path)
    expect = [f"config.{path}"]
    if mutation == "wrong_type":
        value = data.draw(_values.filter(lambda v: _kind(v) != _kind(default)), label="value")
        _set(raw, path, value)
    elif mutation == "out_of_range":
        _set(raw, path, data.draw(_extreme_numbers, label="value"))
    elif mutation == "table_for_value":
        _set(raw, path, data.draw(st.dictionaries(_key, _scalars, min_size=1, max_size=2)))
    else:
        table = path.rpartition(".")[0]
        known = {p.rpartition(".")[2] for p, _ in leaves if p.rpartition(".")[0] == table}
        name = data.draw(_key.filter(lambda k: k not in known and k != "name"), label="unknown")
        _set(raw, f"{table}.{name}", data.draw(_scalars))
        expect = [f"config.{table}.{name}", f"config.{table}"]
    file = tmp_path / "hostile.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    fuzzed["config_files"] += 1
    result = invoke("config", "show", "--config", str(file))
    _check(result, *expect)
    if result.exit_code == 2 and mutation == "unknown_key":
        assert "unknown key" in result.output


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_broken_config_file_exits_2_naming_the_file(text: str | bytes, tmp_path: Path) -> None:
    file = tmp_path / "broken.toml"
    if isinstance(text, bytes):
        file.write_bytes(text)
    else:
        file.write_text(text, encoding="utf-8")
    fuzzed["config_files"] += 1
    result = invoke("config", "show", "--config", str(file))
    # Parsed or not, a top-level key of a parsed file is named as config.<key>.
    _check(result, str(file), "config.")


def test_deeply_nested_toml_is_an_error_not_a_crash(tmp_path: Path) -> None:
    file = tmp_path / "deep.toml"
    file.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    result = invoke("config", "show", "--config", str(file))
    assert result.exit_code == 2
    assert f"{file}: not valid TOML: nested too deeply" in result.output


def test_a_config_file_that_is_a_directory_or_missing_exits_2(tmp_path: Path) -> None:
    for target, why in ((tmp_path, "is a directory"), (tmp_path / "no.toml", "does not exist")):
        result = invoke("config", "show", "--config", str(target))
        assert result.exit_code == 2, result.output
        assert why in result.output
        assert "Traceback" not in result.output


# -- --set ---------------------------------------------------------------------------------------

_cli_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@FUZZ
@given(data=st.data())
def test_hostile_set_values_exit_2_with_the_key_path(
    data: st.DataObject, leaves: list[tuple[str, Any]]
) -> None:
    if data.draw(st.booleans(), label="known key"):
        key = data.draw(st.sampled_from([p for p, _ in leaves]), label="key")
    else:
        key = data.draw(st.lists(_key, min_size=1, max_size=4).map(".".join), label="key")
    value = data.draw(_cli_text, label="value")
    args = [f"--set={k}.name={v}" for k, v in TRAIN_COMPONENTS.items() if key.startswith(k + ".")]
    fuzzed["set_values"] += 1
    result = invoke("config", "show", *args, f"--set={key}={value}")
    parts = key.split(".")
    prefixes = [f"config.{'.'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    _check(result, *prefixes)


@FUZZ
@given(assignment=_cli_text)
def test_malformed_set_assignments_exit_2(assignment: str) -> None:
    fuzzed["set_values"] += 1
    result = invoke("config", "show", f"--set={assignment}")
    key = assignment.partition("=")[0].strip()
    parts = key.split(".") if key else [""]
    prefixes = [f"config.{'.'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    _check(result, f"--set {assignment!r}", *prefixes)


# -- whole runs: values that pass the schema and fail when the run is built -------------------

RUN = [
    "run",
    "--epochs",
    "1",
    "--quiet",
    "--set",
    "task.train_size=64",
    "--set",
    "task.val_size=32",
]
HOST_KEYS = ["base_channels", "n_blocks", "kernel_size", "pool_layers", "in_channels"]


@FUZZ_RUNS
@given(data=st.data())
def test_hostile_values_in_a_run_exit_2_with_the_key_path(
    data: st.DataObject, tmp_path: Path
) -> None:
    target = data.draw(
        st.sampled_from(["host option", "host key", "host name", "slots", "blueprints"])
    )
    if target == "host option":
        key = data.draw(st.sampled_from(HOST_KEYS))
        value = data.draw(
            st.integers(min_value=-3, max_value=8) | st.text(max_size=4) | st.floats(0.5, 2)
        )
        setting, expect = {"task": {"host": {key: value}}}, ["config.task.host"]
    elif target == "host key":
        key = data.draw(_key.filter(lambda k: k not in [*HOST_KEYS, "memory_format"]))
        setting, expect = {"task": {"host": {key: 1}}}, [f"config.task.host.{key}"]
    elif target == "host name":
        setting = {"task": {"host_name": data.draw(_cli_text.filter(lambda t: t != "cnn"))}}
        expect = ["config.task.host_name"]
    elif target == "slots":
        slots = data.draw(st.lists(st.sampled_from(["r0c0", "r1c2", "x", ""]) | _key, max_size=3))
        setting, expect = {"run": {"slots": slots}}, ["config.run.slots"]
    else:
        names = data.draw(st.lists(st.sampled_from(["conv_light", "nope", ""]) | _key, max_size=3))
        setting, expect = {"policy": {"blueprints": names}}, ["config.policy.blueprints"]
    file = tmp_path / "run.toml"
    file.write_text(tomli_w.dumps(setting), encoding="utf-8")
    fuzzed["run_configs"] += 1
    with one_thread():
        result = invoke(*RUN, "--config", str(file), "--out", str(tmp_path / "runs"))
    _check(result, *expect)


def test_nan_and_infinity_in_a_config_are_named(tmp_path: Path) -> None:
    for value in (math.nan, math.inf):
        result = invoke("config", "show", f"--set=run.epochs={value}")
        assert result.exit_code == 2
        assert "config.run.epochs: expected int, got float" in result.output
