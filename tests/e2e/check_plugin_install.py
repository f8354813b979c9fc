"""End-to-end checks of installed plugins, run by ``nox -s plugins_e2e`` in its fresh venv.

    python tests/e2e/check_plugin_install.py template  # after installing the template plugin
    python tests/e2e/check_plugin_install.py broken    # after also installing the broken fixture

Runs the venv's real ``esper`` console script in subprocesses, with autoload on and no ESPER_*
variables (as a user has it), and exits 1 if any check fails. Not collected by pytest (the
name does not start with ``test_``): it needs pip-installed distributions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ESPER = str(Path(sys.executable).with_name("esper"))
TEMPLATE_CONFIG = '[telemetry.sinks."template:csv"]\npath = "m.csv"\ntypes = ["run.ended"]\n'


def esper(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ESPER_")}
    clean.update(env or {})
    with tempfile.TemporaryDirectory() as cwd:  # keep the checkout off sys.path
        return subprocess.run(
            [ESPER, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=300
        )


def skipped_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "plugin skipped" in line]


def template_loaded(listing: str) -> str | None:
    infos = {info["name"]: info for info in json.loads(listing)}
    info = infos.get("template")
    if info is None:
        return f"no plugin 'template' in {sorted(infos)}"
    expected = {
        "status": "loaded",
        "distribution": "esper-plugin-template",
        "builtin": False,
        "registered": {"telemetry_sinks": ["csv"]},
    }
    wrong = {k: info[k] for k in expected if info[k] != expected[k]}
    return f"template: expected {expected}, got {wrong}" if wrong else None


def check_template() -> str | None:
    result = esper("plugins", "list", "--json")
    if result.returncode != 0:
        return f"exit {result.returncode}: {result.stderr}"
    if result.stderr:
        return f"unexpected stderr: {result.stderr}"
    return template_loaded(result.stdout)


def check_template_config() -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.toml"
        path.write_text(TEMPLATE_CONFIG, encoding="utf-8")
        result = esper("config", "show", "--config", str(path), "--format", "json")
    if result.returncode != 0:
        return f"exit {result.returncode}: {result.stderr}"
    sinks = json.loads(result.stdout)["telemetry"]["sinks"]
    expected = {"path": "m.csv", "types": ["run.ended"]}
    if sinks.get("template:csv") != expected:
        return f"template:csv options: expected {expected}, got {sinks}"
    return None


def check_doctor_clean() -> str | None:
    # Editable installs included: setuptools leaves src/esper_plugin_template.egg-info on
    # sys.path, which doctor must not take for a second install.
    result = esper("plugins", "doctor", "--json")
    problems = json.loads(result.stdout)["problems"]
    return None if result.returncode == 0 and not problems else f"problems: {problems}"


def check_broken_warns_once() -> str | None:
    result = esper("plugins", "list")
    if result.returncode != 0:
        return f"exit {result.returncode}, expected 0: {result.stderr}"
    warnings = skipped_warnings(result.stderr)
    if len(warnings) != 1 or "broken" not in warnings[0]:
        return f"expected one 'plugin skipped' warning naming broken, got: {result.stderr}"
    if "broken  [failed]" not in result.stdout:
        return f"broken not listed as failed: {result.stdout}"
    listing = esper("plugins", "list", "--json")
    return template_loaded(listing.stdout)


def check_other_commands_work() -> str | None:
    for args in (["--version"], ["--help"], ["plugins", "info", "template"]):
        result = esper(*args)
        if result.returncode != 0:
            return f"esper {' '.join(args)}: exit {result.returncode}: {result.stderr}"
        if len(skipped_warnings(result.stderr)) != 1:
            return f"esper {' '.join(args)}: expected one warning, got: {result.stderr}"
    return None


def check_strict_exits_2() -> str | None:
    for args, env in (
        (["--strict-plugins", "plugins", "list"], {}),
        (["plugins", "list"], {"ESPER_STRICT_PLUGINS": "1"}),
    ):
        result = esper(*args, env=env)
        if result.returncode != 2:
            return f"{args} {env}: exit {result.returncode}, expected 2"
        if 'plugin "broken"' not in result.stderr or "Traceback" in result.stderr:
            return f"{args} {env}: expected a one-line error naming broken: {result.stderr}"
    return None


def check_block_broken() -> str | None:
    result = esper("--strict-plugins", "--plugin", "no:broken", "plugins", "list")
    if result.returncode != 0 or result.stderr:
        return f"exit {result.returncode}, stderr: {result.stderr}"
    return None


def check_doctor_reports_broken() -> str | None:
    result = esper("plugins", "doctor")
    if result.returncode != 1 or "plugin 'broken' failed to load" not in result.stdout:
        return f"exit {result.returncode}, expected 1 naming broken: {result.stdout}"
    return None


STAGES: dict[str, list[Callable[[], str | None]]] = {
    "template": [check_template, check_template_config, check_doctor_clean],
    "broken": [
        check_broken_warns_once,
        check_other_commands_work,
        check_strict_exits_2,
        check_block_broken,
        check_doctor_reports_broken,
    ],
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in STAGES:
        print(f"usage: {Path(__file__).name} {{{','.join(STAGES)}}}", file=sys.stderr)
        return 2
    checks = STAGES[argv[0]]
    failed = 0
    for check in checks:
        problem = check()
        print(
            f"{'FAIL' if problem else 'ok'}: {check.__name__}" + (f": {problem}" if problem else "")
        )
        failed += problem is not None
    print(f"plugins-e2e: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
