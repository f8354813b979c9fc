"""One test per hook (test_hook_<name>), plus the meta-tests that keep it that way."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import click
import pytest

from esper.config import resolve
from esper.plugin import (
    AgentSpec,
    BlueprintSpec,
    CommandSpec,
    GovernorSpec,
    HostSpec,
    PolicySpec,
    PresetSpec,
    RewardSpec,
    RunnerSpec,
    SinkSpec,
    TaskSpec,
    hookimpl,
)
from esper.registry import Registries, hookspecs
from esper.rundir.session import RunSession
from esper.telemetry.events import RunEnded, RunStarted

from support.paths import ROOT

HOOK_NAMES = sorted(name for name in dir(hookspecs) if name.startswith("esper_"))


def test_every_hook_has_a_test() -> None:
    names = set(globals())
    missing = [h for h in HOOK_NAMES if f"test_hook_{h}" not in names]
    assert missing == []


def test_every_hook_is_documented() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ `?(esper_\w+)`?", text, flags=re.M))
    assert sorted(set(HOOK_NAMES) - headings) == []
    assert sorted(headings - set(HOOK_NAMES)) == []  # no docs for hooks that do not exist


def test_every_hook_has_a_docstring() -> None:
    for name in HOOK_NAMES:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name


def _registered(esper_manager, register_plugin, kind: str, record) -> None:
    hook_name = f"esper_{kind}"

    class Plugin:
        pass

    def impl(self):
        yield record

    impl.__name__ = hook_name
    setattr(Plugin, hook_name, hookimpl(impl))
    register_plugin(Plugin(), name="hooktest")
    entry = Registries(esper_manager)[kind].get(f"hooktest:{record.name}")
    assert entry.spec is record
    assert esper_manager.infos["hooktest"].registered == {kind: [record.name]}
    assert esper_manager.infos["hooktest"].hooks == [hook_name]


def test_hook_esper_blueprints(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager,
        register_plugin,
        "blueprints",
        BlueprintSpec(
            name="tiny", topology="cnn", factory="torch.nn:Identity", identity_at_birth=True
        ),
    )


def test_hook_esper_hosts(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager,
        register_plugin,
        "hosts",
        HostSpec(name="h", topology="cnn", factory="builtins:object"),
    )


def test_hook_esper_tasks(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager,
        register_plugin,
        "tasks",
        TaskSpec(name="t", topology="cnn", factory="builtins:object"),
    )


def test_hook_esper_rewards(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager, register_plugin, "rewards", RewardSpec(name="r", factory="builtins:object")
    )


def test_hook_esper_policies(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager,
        register_plugin,
        "policies",
        PolicySpec(name="p", factory="builtins:object", trainable=True),
    )


def test_hook_esper_agents(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager, register_plugin, "agents", AgentSpec(name="a", factory="builtins:object")
    )


def test_hook_esper_governors(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager,
        register_plugin,
        "governors",
        GovernorSpec(name="g", factory="builtins:object"),
    )


def test_hook_esper_runners(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager, register_plugin, "runners", RunnerSpec(name="r", factory="builtins:object")
    )


def test_hook_esper_telemetry_sinks(esper_manager, register_plugin) -> None:
    _registered(
        esper_manager,
        register_plugin,
        "telemetry_sinks",
        SinkSpec(name="s", factory="builtins:object"),
    )


def test_hook_esper_presets(esper_manager, register_plugin) -> None:
    record = PresetSpec(name="p", factory=lambda: {"run": {"epochs": 3}}, command="train")
    _registered(esper_manager, register_plugin, "presets", record)
    # The factory's dict is the config's lowest layer.
    assert resolve(Registries(esper_manager), preset="hooktest:p").run.epochs == 3


@click.command()
def _hello() -> None:
    click.echo("hello from a plugin command")


def test_hook_esper_commands(monkeypatch, esper_cli) -> None:
    import sys
    import types

    module = types.ModuleType("esper_test_command_plugin")

    @hookimpl
    def esper_commands():
        yield CommandSpec(name="hello", factory=_hello, summary="says hello")

    module.esper_commands = esper_commands  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "esper_test_command_plugin", module)
    result = esper_cli("--plugin", "esper_test_command_plugin", "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello from a plugin command\n"
    listing = esper_cli("--plugin", "esper_test_command_plugin", "--help")
    assert "hello" in listing.stdout


@attrs.define
class _Recorder:
    calls: list[tuple[str, object]] = attrs.field(factory=list)

    @hookimpl
    def esper_configure(self, config):
        self.calls.append(("configure", config))

    @hookimpl
    def esper_run_start(self, run):
        self.calls.append(("run_start", run))

    @hookimpl
    def esper_run_end(self, run, status):
        self.calls.append(("run_end", status))

    @hookimpl
    def esper_telemetry_event(self, event):
        self.calls.append(("event", event.type))


def _session(esper_manager, tmp_path: Path, recorder: _Recorder | None = None) -> RunSession:
    if recorder is not None:
        esper_manager.add_plugin(recorder, "recorder")
    config = resolve(Registries(esper_manager), overrides=[f"run.out={str(tmp_path)!r}"])
    return RunSession(esper_manager, config, command="test", run_id="r1")


def test_hook_esper_configure(esper_manager, tmp_path: Path) -> None:
    recorder = _Recorder()
    with _session(esper_manager, tmp_path, recorder) as session:
        pass
    assert recorder.calls[0] == ("configure", session.config)
    # Historic: a plugin registered after the call still receives it.
    late = _Recorder()
    esper_manager.add_plugin(late, "late")
    assert late.calls == [("configure", session.config)]


def test_hook_esper_run_start(esper_manager, tmp_path: Path) -> None:
    recorder = _Recorder()
    with _session(esper_manager, tmp_path, recorder):
        starts = [c for c in recorder.calls if c[0] == "run_start"]
        assert len(starts) == 1
        run = starts[0][1]
        assert run.run_id == "r1"
        assert run.run_dir == tmp_path / "r1"
        assert (tmp_path / "r1" / "config.toml").exists()


@pytest.mark.parametrize(
    ("raised", "status"),
    [(None, "finished"), (KeyboardInterrupt, "interrupted"), (RuntimeError, "crashed")],
)
def test_hook_esper_run_end(esper_manager, tmp_path: Path, raised, status) -> None:
    recorder = _Recorder()
    session = _session(esper_manager, tmp_path, recorder)
    try:
        with session:
            if raised is not None:
                raise raised()
    except (KeyboardInterrupt, RuntimeError):
        pass
    assert recorder.calls[-1] == ("run_end", status)
    from esper.telemetry import read_events

    events = list(read_events(tmp_path / "r1" / "events.jsonl"))
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[-1], RunEnded)
    assert events[-1].status == status


def test_hook_esper_telemetry_event(esper_manager, tmp_path: Path) -> None:
    recorder = _Recorder()
    with _session(esper_manager, tmp_path, recorder):
        pass
    assert [c[1] for c in recorder.calls if c[0] == "event"] == ["run.started", "run.ended"]
