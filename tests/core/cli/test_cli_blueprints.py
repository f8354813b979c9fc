"""``esper blueprints``: listing, filtering, exact counts at --dim, JSON, third-party blueprints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from esper.cli.cmd_blueprints import FALLBACK_DIM, blueprints, param_count
from esper.cli.main import CORE_COMMANDS
from esper.errors import RegistryError
from esper.plugin import BlueprintSpec
from esper.registry import Registries
from esper_plugins.blueprints.cnn import params as cnn_params
from esper_plugins.blueprints.transformer import params as tfm_params

FORMULAS = {"cnn": cnn_params, "transformer": tfm_params}


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(blueprints, list(args), catch_exceptions=True)


def _rows(*args: str) -> list[dict[str, Any]]:
    result = _invoke("--json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)
    return rows


#: The widest slot of each built-in host at its default configuration.
DEFAULT_DIMS = {"cnn": 32, "transformer": 128}


def test_json_lists_every_builtin_blueprint_with_exact_counts_at_default_dims() -> None:
    rows = _rows()
    assert len(rows) == 16
    by_id = {r["id"]: r for r in rows}
    assert by_id["esper.blueprints.cnn:conv_heavy"]["params"] == 18_560  # 2(9C^2+2C), C=32
    assert by_id["esper.blueprints.transformer:mlp"]["params"] == 131_712  # 8d^2+5d, d=128
    for row in rows:
        assert row["dim"] == DEFAULT_DIMS[row["topology"]]
        formula = getattr(FORMULAS[row["topology"]], f"{row['name']}_params")
        assert row["params"] == formula(row["dim"]), row["id"]
        assert row["plugin"] == f"esper.blueprints.{row['topology']}"
        assert row["error"] is None
    assert by_id["esper.blueprints.cnn:conv_light"]["identity_at_birth"] is False
    assert by_id["esper.blueprints.cnn:bottleneck"]["identity_at_birth"] is True


def test_default_width_is_what_each_host_declares_and_builds(esper_manager: Any) -> None:
    # The declared width is the widest slot of the host built with its default config.
    hosts = Registries(esper_manager)["hosts"]
    for entry in hosts:
        built = entry.build(
            None, **{"num_classes" if entry.spec.topology == "cnn" else "vocab_size": 10}
        )
        widest = max(point.channels for point in built.injection_points())
        assert entry.spec.feature_width == widest == DEFAULT_DIMS[entry.spec.topology]


def test_a_third_party_topology_takes_its_hosts_width_or_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _third_party(tmp_path, monkeypatch)
    rows = _rows("--topology", "mlp")
    assert {r["dim"] for r in rows} == {FALLBACK_DIM}  # no mlp host declares a width
    (tmp_path / "bp_mlphost.py").write_text(
        textwrap.dedent(
            """
            from esper.plugin import HostSpec, hookimpl

            @hookimpl
            def esper_hosts():
                yield HostSpec(name="mlp", topology="mlp", factory="math:sqrt", feature_width=48)
            """
        )
    )
    monkeypatch.setenv("ESPER_PLUGINS", "bp_thirdparty,bp_mlphost")
    rows = _rows("--topology", "mlp")
    assert [(r["id"], r["dim"], r["params"]) for r in rows] == [
        ("bp_thirdparty:wide", 48, 48 * 48 + 48),
        ("bp_thirdparty:odd", 48, None),
    ]


def test_topology_filter_dim_and_ordering_by_size() -> None:
    rows = _rows("--topology", "transformer", "--dim", "384")
    assert {r["topology"] for r in rows} == {"transformer"}
    assert [r["name"] for r in rows] == [
        "noop",
        "norm",
        "lora",
        "lora_large",
        "mlp_small",
        "attention",
        "flex_attention",
        "mlp",
    ]
    assert [r["params"] for r in rows] == [
        0,
        769,
        6_144,
        24_576,
        590_976,
        591_360,
        591_360,
        1_181_568,
    ]


def test_table_output() -> None:
    result = _invoke("-t", "cnn", "--dim", "16")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "topology", "plugin", "identity", "dim", "params"]
    assert len(lines) == 1 + 8
    heavy = next(line for line in lines if line.startswith("esper.blueprints.cnn:conv_heavy"))
    assert heavy.split() == [
        "esper.blueprints.cnn:conv_heavy",
        "cnn",
        "esper.blueprints.cnn",
        "no",
        "16",
        f"{cnn_params.conv_heavy_params(16):,}",
    ]
    assert lines[-1].startswith("esper.blueprints.cnn:conv_heavy")  # largest last


def test_unknown_topology_is_a_user_error_listing_known_ones() -> None:
    result = _invoke("--topology", "rnn")
    assert isinstance(result.exception, RegistryError)
    assert "no blueprints for topology 'rnn'; known topologies: cnn, transformer" in str(
        result.exception
    )


def test_dim_must_be_positive() -> None:
    result = _invoke("--dim", "0")
    assert result.exit_code == 2
    assert "--dim" in result.output


def _third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bp_thirdparty.py").write_text(
        textwrap.dedent(
            """
            from esper.plugin import BlueprintSpec, hookimpl
            from torch import nn

            def make_wide(dim, config=None):
                return nn.Linear(dim, dim)

            def make_broken(dim, config=None):
                raise ValueError(f"needs an even width, got {dim}")

            @hookimpl
            def esper_blueprints():
                yield BlueprintSpec(name="wide", topology="mlp", factory=make_wide)
                yield BlueprintSpec(name="odd", topology="mlp", factory=make_broken)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ESPER_PLUGINS", "bp_thirdparty")


def test_third_party_blueprints_without_formula_are_built_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _third_party(tmp_path, monkeypatch)
    rows = _rows("--topology", "mlp", "--dim", "5")
    assert [(r["id"], r["params"]) for r in rows] == [
        ("bp_thirdparty:wide", 30),
        ("bp_thirdparty:odd", None),
    ]
    assert rows[1]["error"] == "ValueError: needs an even width, got 5"
    result = _invoke("--topology", "mlp", "--dim", "5")
    assert result.exit_code == 0
    assert "n/a" in result.output
    assert "bp_thirdparty:odd: cannot build at dim 5: ValueError" in result.output


def test_param_count_prefers_a_declared_formula() -> None:
    spec = BlueprintSpec(
        name="x", topology="cnn", factory="esper_plugins.blueprints.cnn.seeds:create_norm"
    )
    assert param_count(spec, 10) == 21  # built: GroupNorm 2*10 + gate
    formula_only = BlueprintSpec(
        name="y", topology="cnn", factory="math:sqrt", param_formula=lambda d: 7 * d
    )
    assert param_count(formula_only, 3) == 21  # the factory is never called


@pytest.mark.skipif(
    "blueprints" not in CORE_COMMANDS, reason="not yet wired into esper.cli.main.CORE_COMMANDS"
)
def test_available_as_esper_blueprints(esper_cli: Any) -> None:
    result = esper_cli("blueprints", "--json", "-t", "cnn")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 8
    bad = esper_cli("blueprints", "-t", "nope")
    assert bad.exit_code == 2
    assert "no blueprints for topology 'nope'" in bad.stderr


def test_listing_builtin_blueprints_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from esper.cli.main import main\n"
        "try:\n"
        "    main(['blueprints', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ESPER_PLUGINS"}
    env["ESPER_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert proc.stderr.strip().splitlines()[-1] == "False"
    assert len(json.loads(proc.stdout)) == 16
