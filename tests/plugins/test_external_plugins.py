"""Third-party plugins, installed as real distributions but without pip.

Each test writes fake distributions into a temporary directory
(``<name>-<version>.dist-info/METADATA`` and ``entry_points.txt`` beside the plugin's module)
and puts that directory on ``sys.path`` (and on ``PYTHONPATH`` for CLI subprocesses), which is
all ``importlib.metadata`` needs to report an installed distribution with an ``esper.plugins``
entry point. tests/conftest.py disables autoload for the whole suite; tests that exercise
autoload turn it back on for themselves.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from esper import DISTRIBUTION, __version__
from esper.errors import PluginError
from esper.registry import Registries
from esper.registry.manager import ENV_DISABLE_AUTOLOAD, build_manager

AUTOLOAD_ENV = ENV_DISABLE_AUTOLOAD


class FakeSite:
    """A directory of fake installed distributions, on sys.path for one test."""

    def __init__(
        self,
        root: Path,
        monkeypatch: pytest.MonkeyPatch,
        sys_path_entry: str | None = None,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True)
        self.modules: set[str] = set()  # top-level modules written here, forgotten at teardown
        monkeypatch.syspath_prepend(str(root) if sys_path_entry is None else sys_path_entry)

    def add(
        self,
        dist: str,
        *,
        entry_points: Mapping[str, str] | None = None,
        modules: Mapping[str, str] | None = None,
        version: str = "1.0.0",
        requires: Sequence[str] = (),
        egg_info: bool = False,
        installed_from: Path | None = None,
        files: Sequence[str] = (),
    ) -> None:
        """Install distribution ``dist`` with ``esper.plugins`` entry points and module files.

        ``modules`` maps a dotted module name to its source; packages are created as needed.
        ``egg_info`` writes setuptools' ``NAME.egg-info`` (what a build leaves in a project
        directory) instead of an installer's ``.dist-info``; ``installed_from`` records, as pip
        does in direct_url.json, that the distribution was installed from that directory.
        ``files`` are listed in the RECORD as installed, without being written.
        """
        stem = dist.replace("-", "_")
        if egg_info:
            info = self.root / f"{stem}.egg-info"
            metadata_file = "PKG-INFO"
        else:
            info = self.root / f"{stem}-{version}.dist-info"
            metadata_file = "METADATA"
        info.mkdir()
        metadata = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
        metadata += [f"Requires-Dist: {r}" for r in requires]
        (info / metadata_file).write_text("\n".join(metadata) + "\n", encoding="utf-8")
        if installed_from is not None:
            direct_url = {"url": installed_from.as_uri(), "dir_info": {"editable": True}}
            (info / "direct_url.json").write_text(json.dumps(direct_url), encoding="utf-8")
        if entry_points is not None:
            lines = ["[esper.plugins]", *(f"{k} = {v}" for k, v in entry_points.items())]
            (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        if files:
            record = [f"{path},," for path in files]
            (info / "RECORD").write_text("\n".join(record) + "\n", encoding="utf-8")
        for name, source in (modules or {}).items():
            *packages, leaf = name.split(".")
            folder = self.root
            for package in packages:
                folder = folder / package
                folder.mkdir(exist_ok=True)
                (folder / "__init__.py").touch()
            (folder / f"{leaf}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            self.modules.add(name.split(".")[0])
        # Files written after the directory was put on sys.path: drop the finders' caches.
        importlib.invalidate_caches()


@pytest.fixture
def fake_sites() -> Iterator[list[FakeSite]]:
    """The sites `make_site` created in this test; the last one created is first on sys.path."""
    sites: list[FakeSite] = []
    yield sites
    # Forget every module the fake distributions provided, so no test sees another's.
    for top in {name for site in sites for name in site.modules}:
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]


@pytest.fixture
def make_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_sites: list[FakeSite]) -> Any:
    def make(root: Path | None = None, sys_path_entry: str | None = None) -> FakeSite:
        root = root or tmp_path / f"site{len(fake_sites)}"
        site = FakeSite(root, monkeypatch, sys_path_entry)
        fake_sites.append(site)
        return site

    return make


@pytest.fixture
def site(make_site: Any) -> FakeSite:
    site: FakeSite = make_site()
    return site


@pytest.fixture
def autoload(monkeypatch: pytest.MonkeyPatch, esper_cli: Any) -> None:
    """Autoload installed plugins, as outside the test suite (also for ``esper_cli``).

    Depends on ``esper_cli`` so that it runs after that fixture has disabled autoload.
    """
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)


def run_cli(
    fake_sites: Sequence[FakeSite],
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m esper ARGS`` in a fresh interpreter that sees the fake distributions.

    Starts from the caller's environment without any ESPER_* variable (autoload on), then
    applies ``env``. Runs in ``cwd`` so that the repository's own checkout is not on sys.path.
    """
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    paths = [str(s.root) for s in fake_sites]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    full_env["PYTHONPATH"] = os.pathsep.join(paths)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "esper", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def listing(stdout: str) -> dict[str, dict[str, Any]]:
    return {info["name"]: info for info in json.loads(stdout)}


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "plugin skipped" in line]


# -- plugin sources --------------------------------------------------------------------------

GOOD_HOOKS = """
from esper.plugin import SinkSpec, hookimpl

@hookimpl
def esper_telemetry_sinks():
    yield SinkSpec(name="null", factory="acme_good_impl:NullSink", summary="drops events")
"""

GOOD_IMPL = """
class NullSink:
    def __init__(self, config, *, run_dir=None):
        self.written = 0

    def write(self, event):
        self.written += 1

    def close(self):
        pass
"""

BROKEN_HOOKS = """
raise ImportError("acme_broken needs libfoo, which is not installed")
"""


def add_good(site: FakeSite) -> None:
    site.add(
        "esper-acme",
        entry_points={"acme": "acme_good"},
        modules={"acme_good": GOOD_HOOKS, "acme_good_impl": GOOD_IMPL},
        version="1.2.3",
    )


def add_broken(site: FakeSite) -> None:
    site.add(
        "esper-broken",
        entry_points={"broken": "acme_broken"},
        modules={"acme_broken": BROKEN_HOOKS},
    )


def add_marker(site: FakeSite, marker: Path) -> None:
    """A plugin whose import leaves ``marker`` behind: proof that it was imported."""
    source = f"""
    import pathlib
    pathlib.Path({str(marker)!r}).write_text("imported", encoding="utf-8")

    from esper.plugin import SinkSpec, hookimpl

    @hookimpl
    def esper_telemetry_sinks():
        yield SinkSpec(name="marked", factory="builtins:object")
    """
    site.add(
        "esper-marker", entry_points={"marker": "acme_marker"}, modules={"acme_marker": source}
    )


# -- discovery and autoload ------------------------------------------------------------------


@pytest.mark.usefixtures("autoload")
def test_third_party_plugin_is_autoloaded_into_the_registry(site: FakeSite) -> None:
    add_good(site)
    manager = build_manager()
    info = manager.infos["acme"]
    assert (info.status, info.builtin, info.explicit) == ("loaded", False, False)
    assert (info.distribution, info.version) == ("esper-acme", "1.2.3")
    assert info.location == str(site.root / "acme_good.py")
    assert info.registered == {"telemetry_sinks": ["null"]}

    sinks = Registries(manager)["telemetry_sinks"]
    assert "acme:null" in sinks.ids()
    entry = sinks.get("null")  # the bare name is unique, so it resolves to the full id
    assert (entry.id, entry.plugin) == ("acme:null", "acme")
    # The factory is a lazy string: imported only when the sink is built.
    assert "acme_good_impl" not in sys.modules
    sink = entry.build(None, run_dir=None)
    sink.write(object())
    sink.write(object())
    assert sink.written == 2
    assert "acme_good_impl" in sys.modules


def test_third_party_plugin_is_listed_by_a_subprocess_cli(site: FakeSite, tmp_path: Path) -> None:
    add_good(site)
    result = run_cli([site], "plugins", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plugins = listing(result.stdout)
    assert plugins["acme"]["status"] == "loaded"
    assert plugins["acme"]["distribution"] == "esper-acme"
    assert plugins["acme"]["registered"] == {"telemetry_sinks": ["null"]}
    assert plugins["esper.telemetry.jsonl"]["builtin"] is True
    assert result.stderr == ""


def test_disabled_autoload_skips_third_party_but_keeps_builtins(
    site: FakeSite, esper_cli: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "imported.txt"
    add_marker(site, marker)
    add_good(site)
    # esper_cli sets ESPER_DISABLE_PLUGIN_AUTOLOAD=1.
    result = esper_cli("plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    plugins = listing(result.stdout)
    builtins = {name for name, info in plugins.items() if info["builtin"]}
    assert {"esper.telemetry.jsonl", "esper.telemetry.console"} <= builtins
    assert all(plugins[name]["status"] == "loaded" for name in builtins)
    assert "acme" not in plugins
    assert "marker" not in plugins
    assert not marker.exists()
    # --plugin still brings one in by its entry-point name, and only that one.
    result = esper_cli("--plugin", "acme", "plugins", "list", "--json")
    plugins = listing(result.stdout)
    assert plugins["acme"]["explicit"] is True
    assert "marker" not in plugins
    assert not marker.exists()


def test_disable_autoload_flag_in_a_subprocess(site: FakeSite, tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    add_marker(site, marker)
    result = run_cli([site], "--disable-plugin-autoload", "plugins", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "marker" not in listing(result.stdout)
    assert not marker.exists()


# -- broken plugins --------------------------------------------------------------------------


@pytest.mark.usefixtures("autoload")
def test_broken_plugin_is_skipped_with_one_warning(
    site: FakeSite, captured_logs: list[Any]
) -> None:
    add_broken(site)
    add_good(site)
    manager = build_manager()
    assert manager.infos["acme"].status == "loaded"
    info = manager.infos["broken"]
    assert (info.status, info.distribution) == ("failed", "esper-broken")
    assert "ImportError" in (info.error or "")
    assert "needs libfoo" in (info.traceback or "")
    skipped = [e for e in captured_logs if e["event"] == "plugin skipped"]
    assert [(e["log_level"], e["plugin"]) for e in skipped] == [("warning", "broken")]
    assert "acme:null" in Registries(manager)["telemetry_sinks"].ids()


def test_broken_plugin_cli_still_works_and_strict_exits_2(site: FakeSite, tmp_path: Path) -> None:
    add_broken(site)
    add_good(site)
    result = run_cli([site], "plugins", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(warnings_in(result.stderr)) == 1
    assert "broken" in warnings_in(result.stderr)[0]
    assert "acme  (esper-acme 1.2.3)" in result.stdout
    not_loaded = result.stdout.split("not loaded:")[1]
    assert "broken  [failed]" in not_loaded

    # Other commands keep working too.
    for args in (["--version"], ["plugins", "info", "acme"]):
        result = run_cli([site], *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert len(warnings_in(result.stderr)) == 1
    assert (
        "  broken: esper-broken 1.0.0 [failed]" in run_cli([site], "--version", cwd=tmp_path).stdout
    )

    for args, env in (
        (["--strict-plugins", "plugins", "list"], {}),
        (["plugins", "list"], {"ESPER_STRICT_PLUGINS": "1"}),
    ):
        result = run_cli([site], *args, cwd=tmp_path, env=env)
        assert result.returncode == 2, (args, env, result.stderr)
        assert 'plugin "broken" (acme_broken)' in result.stderr
        assert "needs libfoo" in result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


@pytest.mark.usefixtures("autoload")
def test_strict_plugins_applies_to_help(site: FakeSite, esper_cli: Any) -> None:
    # --help is eager; --strict-plugins must be too, or the help lists commands before it is read.
    add_broken(site)
    result = esper_cli("--strict-plugins", "--help")
    assert result.exit_code == 2
    assert 'plugin "broken" (acme_broken)' in result.stderr


@pytest.mark.usefixtures("autoload")
def test_strict_mode_in_process_raises(site: FakeSite) -> None:
    add_broken(site)
    with pytest.raises(PluginError, match=r'plugin "broken" \(acme_broken\): import failed'):
        build_manager(strict=True)


def test_broken_plugin_named_explicitly_is_fatal(site: FakeSite, esper_cli: Any) -> None:
    add_broken(site)
    add_good(site)
    # Autoload is off (esper_cli), yet naming the plugin makes its failure fatal.
    result = esper_cli("--plugin", "broken", "plugins", "list")
    assert result.exit_code == 2
    assert 'plugin "broken" (acme_broken): import failed' in result.stderr
    # Without the name, the same installation is fine.
    assert esper_cli("plugins", "list").exit_code == 0


@pytest.mark.usefixtures("autoload")
def test_plugins_info_shows_the_traceback(site: FakeSite, esper_cli: Any) -> None:
    add_broken(site)
    result = esper_cli("plugins", "info", "broken")
    assert result.exit_code == 0, result.output
    assert "status: failed" in result.stdout
    assert "distribution: esper-broken" in result.stdout
    assert 'raise ImportError("acme_broken needs libfoo' in result.stdout


# -- blocking --------------------------------------------------------------------------------


def test_blocked_plugin_is_never_imported(site: FakeSite, tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    add_marker(site, marker)
    result = run_cli([site], "--plugin", "no:marker", "plugins", "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert listing(result.stdout)["marker"]["status"] == "blocked"
    assert not marker.exists()
    # The control: the same command without the block imports it.
    result = run_cli([site], "plugins", "list", "--json", cwd=tmp_path)
    assert listing(result.stdout)["marker"]["status"] == "loaded"
    assert marker.read_text(encoding="utf-8") == "imported"


@pytest.mark.usefixtures("autoload")
def test_blocking_a_broken_plugin_silences_it_even_when_strict(
    site: FakeSite, esper_cli: Any
) -> None:
    add_broken(site)
    result = esper_cli("--strict-plugins", "--plugin", "no:broken", "plugins", "list")
    assert result.exit_code == 0, result.output
    assert "acme_broken" not in sys.modules
    assert "broken  [blocked]" in result.stdout


# -- hook validation -------------------------------------------------------------------------

MISSPELLED_HOOKS = """
from esper.plugin import SinkSpec, hookimpl

@hookimpl
def esper_telemetry_sink():  # the spec is esper_telemetry_sinks
    yield SinkSpec(name="typo", factory="builtins:object")
"""


@pytest.mark.usefixtures("autoload")
def test_misspelled_hook_is_reported_with_a_hint(site: FakeSite, esper_cli: Any) -> None:
    site.add(
        "esper-typo", entry_points={"typo": "acme_typo"}, modules={"acme_typo": MISSPELLED_HOOKS}
    )
    add_good(site)
    manager = build_manager()
    info = manager.infos["typo"]
    assert info.status == "failed"
    assert info.error == (
        "unknown hook(s): esper_telemetry_sink (did you mean esper_telemetry_sinks?)"
    )
    assert manager.get_plugin("typo") is None
    assert manager.infos["acme"].status == "loaded"
    # Nothing of the typo plugin was registered.
    assert [r.plugin for r in manager.records("telemetry_sinks")].count("typo") == 0

    result = esper_cli("plugins", "list")
    assert result.exit_code == 0
    assert "did you mean esper_telemetry_sinks?" in result.stdout


# -- doctor: duplicates, stale entry points, version requirements -------------------------


@pytest.mark.usefixtures("autoload")
def test_same_entry_point_name_in_two_distributions(make_site: Any, esper_cli: Any) -> None:
    first: FakeSite = make_site()
    second: FakeSite = make_site()  # prepended later, so it comes first on sys.path
    second.add(
        "esper-dup-a", entry_points={"dup": "acme_dup_a"}, modules={"acme_dup_a": GOOD_HOOKS}
    )
    first.add("esper-dup-b", entry_points={"dup": "acme_dup_b"}, modules={"acme_dup_b": GOOD_HOOKS})
    manager = build_manager()
    assert manager.infos["dup"].distribution == "esper-dup-a"
    assert manager.infos["dup"].status == "loaded"
    shadowed = manager.infos["dup (esper-dup-b)"]
    assert shadowed.status == "duplicate"
    assert "also provided by esper-dup-a 1.0.0" in (shadowed.error or "")
    assert "acme_dup_b" not in sys.modules

    result = esper_cli("plugins", "doctor")
    assert result.exit_code == 1
    assert (
        "entry point name 'dup' is provided by more than one distribution (esper-dup-b)"
        in result.stdout
    )
    result = esper_cli("plugins", "doctor", "--json")
    problems = json.loads(result.stdout)["problems"]
    assert [p for p in problems if "'dup'" in p] == [
        "entry point name 'dup' is provided by more than one distribution (esper-dup-b)"
    ]


@pytest.mark.usefixtures("autoload")
def test_same_distribution_twice_on_sys_path_loads_once_and_doctor_reports_it(
    make_site: Any, esper_cli: Any
) -> None:
    # E.g. a lib64 symlink, or a user and a system site-packages both holding a copy.
    first: FakeSite = make_site()
    second: FakeSite = make_site()
    add_good(first)
    add_good(second)
    manager = build_manager()
    assert manager.infos["acme"].status == "loaded"
    assert [i.name for i in manager.infos.values() if i.name.startswith("acme")] == ["acme"]
    assert Registries(manager)["telemetry_sinks"].ids().count("acme:null") == 1

    result = esper_cli("plugins", "doctor", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [p for p in problems if "esper-acme" in p] == [
        "distribution esper-acme is installed more than once: "
        f"{second.root / 'esper_acme-1.2.3.dist-info'}, {first.root / 'esper_acme-1.2.3.dist-info'}"
    ]


@pytest.mark.parametrize("layout", ["flat", "src", "cwd"])
def test_doctor_ignores_the_egg_info_left_in_an_installed_project(
    make_site: Any,
    esper_cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    layout: str,
) -> None:
    # `pip install [-e] PROJECT` leaves PROJECT[/src]/esper_acme.egg-info behind; it is found
    # whenever that directory is on sys.path, but it is not a second install.
    project_dir = tmp_path / "project"
    if layout == "src":
        project: FakeSite = make_site(project_dir / "src")
    elif layout == "cwd":
        monkeypatch.chdir(tmp_path)
        project = make_site(project_dir, sys_path_entry="")
        monkeypatch.chdir(project_dir)
    else:
        project = make_site(project_dir)
    project.add(
        "esper-acme",
        entry_points={"acme": "acme_good"},
        modules={"acme_good": GOOD_HOOKS, "acme_good_impl": GOOD_IMPL},
        version="1.2.3",
        egg_info=True,
    )
    site_packages: FakeSite = make_site()
    site_packages.add(
        "esper-acme",
        entry_points={"acme": "acme_good"},
        version="1.2.3",
        installed_from=project_dir,
    )
    result = esper_cli("--plugin", "acme", "plugins", "doctor", "--json")
    problems = json.loads(result.stdout)["problems"]
    assert [p for p in problems if "esper-acme" in p] == []
    # A stray egg-info that no install names as its source is still a second copy.
    site_packages.add("esper-other", entry_points={"other": "acme_good"}, version="1.0.0")
    project.add("esper-other", entry_points={"other": "acme_good"}, version="1.0.0", egg_info=True)
    problems = json.loads(esper_cli("plugins", "doctor", "--json").stdout)["problems"]
    assert [p for p in problems if "esper-other" in p and "more than once" in p] != []


def test_doctor_reports_an_entry_point_whose_module_is_gone(site: FakeSite, esper_cli: Any) -> None:
    # A distribution uninstalled by hand, or renamed without reinstalling: metadata only.
    site.add("esper-stale", entry_points={"stale": "acme_stale_gone.plugin"})
    add_good(site)
    result = esper_cli("plugins", "doctor", "--json")  # autoload off: doctor still finds it
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    stale = [p for p in problems if "stale" in p]
    assert stale == [
        "entry point 'stale' of esper-stale names module 'acme_stale_gone.plugin', which does "
        "not exist (stale install? reinstall or uninstall the distribution)"
    ]
    assert not [p for p in problems if "esper-acme" in p]


def test_doctor_reports_an_esper_version_mismatch(site: FakeSite, esper_cli: Any) -> None:
    site.add(
        "esper-future",
        entry_points={"future": "acme_future"},
        modules={"acme_future": GOOD_HOOKS},
        requires=["esper-nn>=99", "torch>=2.0"],
    )
    # A requirement that applies only with an extra is not a mismatch.
    site.add(
        "esper-extra",
        entry_points={"extra": "acme_extra"},
        modules={"acme_extra": GOOD_HOOKS},
        requires=['esper-nn>=99; extra == "nightly"', "esper_nn>=0.1"],
    )
    result = esper_cli("plugins", "doctor")
    assert result.exit_code == 1
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert (
        f"- esper-future requires 'esper-nn>=99' but {DISTRIBUTION} {__version__} is installed"
        in lines
    )
    assert not [line for line in lines if "esper-extra" in line]


def test_doctor_reports_a_requirement_on_the_unrelated_esper(
    site: FakeSite, esper_cli: Any
) -> None:
    # `esper` on the package index is another project: a plugin that requires it would
    # install that library next to ours.
    site.add(
        "esper-old-name",
        entry_points={"oldname": "acme_oldname"},
        modules={"acme_oldname": GOOD_HOOKS},
        requires=["esper>=0.1,<0.2"],
    )
    result = esper_cli("plugins", "doctor", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert problems == [
        "esper-old-name requires 'esper>=0.1,<0.2': on the package index that name is an "
        f"unrelated library; esper is distributed as {DISTRIBUTION!r}"
    ]


def test_doctor_reports_another_distribution_that_installs_esper(
    site: FakeSite, esper_cli: Any
) -> None:
    # The unrelated `esper` distribution ships esper/__init__.py: installed beside esper-nn,
    # one overwrites the other's files.
    site.add("esper", version="3.9", files=["esper/__init__.py", "esper/py.typed"])
    result = esper_cli("plugins", "doctor", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert problems == [
        f"distribution esper 3.9 also installs the import package 'esper', which {DISTRIBUTION} "
        "owns: the two overwrite each other's files; uninstall one of them (pip uninstall esper)"
    ]


# -- plugin commands -------------------------------------------------------------------------

COMMAND_HOOKS = """
from esper.plugin import CommandSpec, hookimpl

@hookimpl
def esper_commands():
    yield CommandSpec(name="acme-hello", factory="acme_cmd_impl:hello", summary="greets")
    yield CommandSpec(name="acme-gone", factory="acme_cmd_missing:cmd")
"""

COMMAND_IMPL = """
import click

@click.command()
@click.option("--name", default="world")
@click.option("--times", type=int, default=1)
def hello(name, times):
    \"\"\"Say hello.\"\"\"
    for i in range(times):
        click.echo(f"hello {name} #{i + 1}")
"""


def add_commands(site: FakeSite) -> None:
    site.add(
        "esper-acme-commands",
        entry_points={"cmds": "acme_cmds"},
        modules={"acme_cmds": COMMAND_HOOKS, "acme_cmd_impl": COMMAND_IMPL},
    )


def test_broken_plugin_command_is_marked_and_others_work(site: FakeSite, esper_cli: Any) -> None:
    add_commands(site)
    result = esper_cli("--plugin", "cmds", "--help")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert "\u2020 broken plugin command (cmds)" in lines["acme-gone"]
    assert "\u2020" not in lines["acme-hello"]
    assert {"config", "plugins"} <= set(lines)

    result = esper_cli("--plugin", "cmds", "acme-gone", "--anything")
    assert result.exit_code == 2
    assert "command 'acme-gone' from plugin 'cmds' could not be loaded" in result.stderr
    assert "acme_cmd_missing" in result.stderr

    result = esper_cli("--plugin", "cmds", "plugins", "list", "--json")
    assert result.exit_code == 0
    assert listing(result.stdout)["cmds"]["registered"] == {"commands": ["acme-hello", "acme-gone"]}


def test_working_plugin_command_runs(site: FakeSite, esper_cli: Any) -> None:
    add_commands(site)
    result = esper_cli("--plugin", "cmds", "acme-hello", "--name", "Ada", "--times", "3")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["hello Ada #1", "hello Ada #2", "hello Ada #3"]


def test_plugin_command_runs_in_a_subprocess_with_autoload(site: FakeSite, tmp_path: Path) -> None:
    add_commands(site)
    result = run_cli([site], "acme-hello", "--times", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hello world #1", "hello world #2"]
    result = run_cli([site], "--help", cwd=tmp_path)
    assert "acme-gone" in result.stdout
    assert "\u2020 broken plugin command (cmds)" in result.stdout
