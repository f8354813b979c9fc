"""The wheel ships everything the source tree has: every package, every module, py.typed.

The rest of the suite runs against an editable install, which reads the source tree and so
cannot notice a package left out of the wheel (``esper.report`` once was: ``esper report``
died with ModuleNotFoundError after a plain ``pip install .``). This builds the wheel the way
``pip install .`` does and compares it with the tree; nox's ``cli`` session then installs that
wheel and runs every command.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from esper import DISTRIBUTION

from support.paths import ROOT

PACKAGES = ("esper", "esper_plugins")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # Built from a copy, so the build leaves nothing (build/, *.egg-info) in the checkout.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(src)],
        check=True,
        timeout=600,
    )
    [path] = out.glob("*.whl")
    return zipfile.ZipFile(path)


def _tree_files() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_every_module_and_data_file_of_the_tree_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    shipped = {name for name in wheel.namelist() if name.split("/")[0] in PACKAGES}
    assert _tree_files() - shipped == set()
    assert {"esper/py.typed", "esper_plugins/py.typed", "esper/report/__init__.py"} <= shipped


def test_every_package_directory_is_a_package(wheel: zipfile.ZipFile) -> None:
    # A folder of modules without __init__.py would ship as a namespace package by accident.
    folders = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in [ROOT / package, *(ROOT / package).rglob("*")]
        if path.is_dir() and "__pycache__" not in path.parts and any(path.glob("*.py"))
    }
    shipped = set(wheel.namelist())
    assert {f for f in folders if f"{f}/__init__.py" not in shipped} == set()


def test_the_distribution_name_and_entry_points(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert f"Name: {DISTRIBUTION}\n" in wheel.read(metadata).decode()
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert parser["console_scripts"]["esper"] == "esper.cli.main:main"
    # Every built-in plugin's hook module is in the wheel.
    for module in parser["esper.plugins"].values():
        path = module.replace(".", "/")
        assert f"{path}.py" in names or f"{path}/__init__.py" in names, module


def test_the_torch_lower_bound_is_the_oldest_torch_ci_tests() -> None:
    # The nox matrix is the only evidence of which torch releases work: pyproject.toml admits
    # exactly those from its oldest entry on.
    import re
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    listed = re.search(r"^TORCH_VERSIONS = \[([^\]]*)\]", noxfile, flags=re.M)
    assert listed is not None
    matrix = [Version(v) for v in re.findall(r'"([0-9.]+)"', listed.group(1))]
    assert len(matrix) >= 3
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [torch] = [
        Requirement(d) for d in pyproject["project"]["dependencies"] if d.startswith("torch")
    ]
    [lower] = [Version(s.version) for s in torch.specifier if s.operator == ">="]
    assert lower == min(matrix)
    assert lower <= Version("2.10")


#: The one place that may say `pip install esper`: the docs' explanation of the name.
_EXPLAINS_THE_NAME = "`pip install esper` installs it"


def test_nothing_names_the_unrelated_esper_distribution() -> None:
    # `esper` on the package index is another project: no requirement may name it (it could
    # never be met, and one day it would install that library), and no install hint either.
    import re
    import tomllib

    from packaging.requirements import Requirement

    for path in ROOT.glob("**/pyproject.toml"):
        if ".nox" in path.parts or "build" in path.parts:
            continue
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
        requirements = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            requirements += extra
        names = {Requirement(r).name.lower().replace("_", "-") for r in requirements}
        assert "esper" not in names, path
    # `pip install esper`, `pip install -U 'esper[vision]'`, ...: esper as the package named.
    hint = re.compile(r"pip install\s+(?:-\S+\s+)*['\"]?esper(?:\[[^\]]*\])?['\"]?(?=[\s`]|$)")
    offenders = []
    for path in [*ROOT.glob("**/*.md"), *ROOT.glob("**/*.py")]:
        if {".nox", ".git", "build"} & set(path.parts) or path == Path(__file__):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if hint.search(line) and _EXPLAINS_THE_NAME not in line:
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert offenders == []
