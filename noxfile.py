"""nox sessions: ``nox`` runs what CI runs (.ci/run); ``nox -l`` lists them.

Default sessions: ``lint`` (ruff), ``typecheck`` (mypy strict on esper/), ``tests`` once per
torch version of the matrix, ``plugins_e2e``, which pip-installs the template plugin from
contrib/ (regular and editable) and a deliberately broken plugin into fresh venvs and checks
what users see, ``contrib_sinks``, which installs the telemetry sinks in contrib/ (today
esper-sink-tensorboard) into a fresh venv and runs their own tests, and ``contrib_runners``,
which does the same for the runners in contrib/ (today esper-runner-ray). Pass pytest arguments
after ``--``: ``nox -s "tests(torch='2.13.0')" -- -k cli``.

Venvs come from the standard library's ``venv`` and packages from pip, not uv: this machine's
torch wheels lie on local disk where only pip looks (pip's find-links and local indexes).
"""

from __future__ import annotations

import nox
import nox.command

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "venv"
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "plugins_e2e",
    "contrib_sinks",
    "contrib_runners",
]

#: The torch matrix. The first entry is the lower bound in pyproject.toml (``torch>=2.13``),
#: and the only CPU build of the two (the cheap one, used by sessions that just need torch).
TORCH_VERSIONS = ["2.13.0", "2.14.1"]
TORCH_MIN = TORCH_VERSIONS[0]

# Linters are pinned so that a new release cannot fail CI on unchanged code.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"

TEMPLATE = "contrib/esper-plugin-template"
BROKEN_PLUGIN = "tests/fixtures/broken-plugin"
E2E_CHECKS = "tests/e2e/check_plugin_install.py"
#: Sink distributions in contrib/ whose tests `contrib_sinks` runs.
CONTRIB_SINKS = ["contrib/esper-sink-tensorboard"]
#: Runner distributions in contrib/ whose tests `contrib_runners` runs.
CONTRIB_RUNNERS = ["contrib/esper-runner-ray"]


def install_torch(session: nox.Session, version: str) -> None:
    # Pinned and installed first: left to resolve `torch>=2.13` itself, pip would pick the
    # newest torch it can see (a multi-GB CUDA build) for every session.
    session.install(f"torch=={version}")


@nox.session(reuse_venv=True)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check on the whole repository."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(reuse_venv=True)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on esper/ (the files and flags come from pyproject.toml)."""
    install_torch(session, TORCH_MIN)
    # The extras too: esper.testing imports pytest, and the plots code matplotlib.
    session.install("-e", ".[test,plots]", MYPY)
    session.run("mypy")


@nox.session(reuse_venv=True)
@nox.parametrize("torch", TORCH_VERSIONS)
def tests(session: nox.Session, torch: str) -> None:
    """The test suite against one torch version (default: everything not marked slow)."""
    install_torch(session, torch)
    session.install("-e", ".[test]")
    session.run("python", "-c", "import torch; print('torch', torch.__version__)")
    session.run("pytest", *(session.posargs or ["-m", "not slow"]))


@nox.session(reuse_venv=False)
@nox.parametrize("install", ["regular", "editable"])
def plugins_e2e(session: nox.Session, install: str) -> None:
    """Install esper and the template plugin with pip (-e or not) and check what users see.

    Always a fresh venv: the broken plugin installed at the end must not leak into a rerun.
    Each check runs even when an earlier one failed (installs still stop the session), so
    one report shows every failure; the session fails if any did.
    """
    pip_flags = ["-e"] if install == "editable" else []
    failed: list[str] = []

    def check(*args: str) -> None:
        try:
            session.run(*args)
        except nox.command.CommandFailed:
            failed.append(" ".join(args))

    install_torch(session, TORCH_MIN)
    session.install(*pip_flags, ".")
    session.install(*pip_flags, f"{TEMPLATE}[test]")
    check("python", E2E_CHECKS, "template")
    with session.chdir(TEMPLATE):
        check("pytest", *session.posargs)
    session.install(*pip_flags, BROKEN_PLUGIN)
    check("python", E2E_CHECKS, "broken")
    if failed:
        session.error("failed: " + "; ".join(failed))


@nox.session(reuse_venv=False)
def contrib_sinks(session: nox.Session) -> None:
    """Install esper and each sink distribution in contrib/ with pip, then run its tests.

    A fresh venv each time, with esper installed as users get it (not editable): the tests
    must see the sink through its installed entry point. The tensorboard sink pulls
    ``tensorboard`` (and grpcio, protobuf) from the package index.
    """
    install_torch(session, TORCH_MIN)
    session.install(".")
    for sink in CONTRIB_SINKS:
        session.install(f"{sink}[test]")
    for sink in CONTRIB_SINKS:
        with session.chdir(sink):
            session.run("pytest", *session.posargs)


@nox.session(reuse_venv=False)
def contrib_runners(session: nox.Session) -> None:
    """Install esper and each runner distribution in contrib/ with pip, then run its tests.

    A fresh venv each time, esper installed as users get it (not editable). The ray runner pulls
    ``ray`` from the package index; its tests start one local 2-CPU Ray instance bound to
    loopback. By default the full-size acceptance run (``esper train --runner ray --agent ppo
    --episodes 2 --envs 4``, about 5 minutes) is left out; ``nox -s contrib_runners -- -m slow``
    runs it, and any pytest arguments replace the default.
    """
    install_torch(session, TORCH_MIN)
    session.install(".")
    for runner in CONTRIB_RUNNERS:
        session.install(f"{runner}[test]")
    for runner in CONTRIB_RUNNERS:
        with session.chdir(runner):
            session.run("pytest", *(session.posargs or ["-m", "not slow"]))


@nox.session(reuse_venv=True)
def bench(session: nox.Session) -> None:
    """The benchmark suite (not a default session: it times, it does not test).

    Writes bench-results/ and the table into docs/benchmarks.md (and docs/bench.json). Takes
    about 10 minutes on 2 CPU cores; ``nox -s bench -- --quick`` is a smoke run.
    """
    install_torch(session, TORCH_MIN)
    session.install(".")
    session.run(
        "esper", "bench", "--out", "bench-results", "--docs", "docs/benchmarks.md", *session.posargs
    )


@nox.session(reuse_venv=True)
def stress(session: nox.Session) -> None:
    """Reliability under faults (not a default session): docs/reliability.md's figures.

    Runs every test marked ``stress`` with HYPOTHESIS_PROFILE=stress (many more fuzzed
    inputs; the slow kill tests included), then tests/stress/long_run.py, a long run hit by
    faults of every kind and resumed after each, which writes the totals into the table of
    docs/reliability.md (and docs/reliability.json). Figures land in stress-results/.
    About 12 minutes on 2 CPU cores.
    """
    import os
    import shutil
    import time

    started = time.time()
    install_torch(session, TORCH_MIN)
    session.install("-e", ".[test]")
    out = "stress-results"
    shutil.rmtree(out, ignore_errors=True)
    session.run(
        "pytest",
        "-m",
        "stress",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "stress", "ESPER_STRESS_OUT": os.path.abspath(out)},
    )
    session.run(
        "python",
        "tests/stress/long_run.py",
        "--out",
        out,
        "--docs",
        "docs/reliability.md",
        "--started",
        str(started),
    )
