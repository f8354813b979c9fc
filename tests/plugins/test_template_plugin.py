"""contrib/esper-plugin-template works from its source tree, without pip.

`nox -s plugins_e2e` installs the template for real and runs its own tests; these fast checks
catch the same breakage in the main suite: its pyproject entry point reaches a hook module that
registers ``template:csv``, the sink builds from its lazy factory string, the hook module does
not import torch, and the template's esper requirement admits this esper.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from esper import DISTRIBUTION, __version__
from esper.registry import Registries
from esper.registry.manager import ENV_DISABLE_AUTOLOAD, build_manager
from esper.telemetry.events import RunEnded

from support.paths import CONTRIB

TEMPLATE = CONTRIB / "esper-plugin-template"
PACKAGE = "esper_plugin_template"


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    with (TEMPLATE / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture
def template_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyproject: dict[str, Any]
) -> Iterator[None]:
    """The template "installed" from source: its src/ and a dist-info built from pyproject."""
    project = pyproject["project"]
    info = tmp_path / "site" / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
    ]
    metadata += [f"Requires-Dist: {dep}" for dep in project["dependencies"]]
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    entry_points = project["entry-points"]["esper.plugins"]
    lines = ["[esper.plugins]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(TEMPLATE / "src"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv(ENV_DISABLE_AUTOLOAD, raising=False)
    yield
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_entry_point_names_the_hook_module(pyproject: dict[str, Any]) -> None:
    assert pyproject["project"]["name"] == "esper-plugin-template"
    assert pyproject["project"]["entry-points"]["esper.plugins"] == {
        "template": "esper_plugin_template.plugin"
    }
    assert (TEMPLATE / "src" / PACKAGE / "plugin.py").is_file()
    assert (TEMPLATE / "src" / PACKAGE / "py.typed").is_file()


def test_esper_requirement_admits_this_esper(pyproject: dict[str, Any]) -> None:
    # When esper's version moves out of the pinned range, the template must follow.
    (esper_req,) = [
        Requirement(d)
        for d in pyproject["project"]["dependencies"]
        if Requirement(d).name == DISTRIBUTION
    ]
    assert esper_req.specifier.contains(__version__, prereleases=True), (
        f"template requires {esper_req}, esper is {__version__}"
    )


@pytest.mark.usefixtures("template_installed")
def test_template_is_autoloaded_and_its_sink_writes_rows(tmp_path: Path) -> None:
    manager = build_manager()
    info = manager.infos["template"]
    assert (info.status, info.distribution, info.builtin) == (
        "loaded",
        "esper-plugin-template",
        False,
    )
    assert info.registered == {"telemetry_sinks": ["csv"]}
    entry = Registries(manager)["telemetry_sinks"].get("template:csv")
    config = entry.spec.load_config_cls()(types=("run.ended",))
    sink = entry.build(config, run_dir=tmp_path / "run")
    sink.write(RunEnded(status="finished", wall_time_s=4.0, epoch=7, env_id=2))
    sink.close()
    with (tmp_path / "run" / "metrics.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["type", "ts", "epoch", "env_id", "fields"]
    assert [row[0] for row in rows[1:]] == ["run.ended"]
    assert rows[1][2:4] == ["7", "2"]


def test_hook_module_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, esper_plugin_template.plugin as m\n"
        "specs = list(m.esper_telemetry_sinks())\n"
        "print(len(specs), sorted(n for n in sys.modules if n.split('.')[0] == 'torch'))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(TEMPLATE / "src"))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "1 []"
