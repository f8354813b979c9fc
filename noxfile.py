"""nox sessions: ``nox`` runs what CI runs (.ci/run); ``nox -l`` lists them.

Default sessions: ``lint`` (ruff); ``tests`` once per torch version of the matrix, each the
strict type check of esper/, esper_plugins/, every contrib/ package and the test fixture
plugin, then the test suite; ``cli``, which pip-installs esper as the README does (not
editable) into a fresh venv and runs every command once; ``plugins_e2e``, which
pip-installs the template plugin from contrib/ (regular and editable) and a deliberately
broken plugin and checks what users see; ``contrib_sinks`` and ``contrib_runners``, which
install the sinks and runners in contrib/ into fresh venvs and run their own tests;
``contrib_bench``, which installs the benchmarks (contrib/esper-bench, the ``esper bench``
command) into a fresh venv, runs its tests and ``esper bench --list``. Pass pytest arguments
after ``--``: ``nox -s "tests(torch='2.13.0')" -- -k cli``.

Venvs come from the standard library's ``venv`` and packages from pip, not uv: this machine's
torch wheels lie on local disk where only pip looks (pip's find-links and local indexes).
"""

from __future__ import annotations

import os

import nox
import nox.command

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "venv"
nox.options.sessions = [
    "lint",
    "tests",
    "cli",
    "plugins_e2e",
    "contrib_sinks",
    "contrib_runners",
    "contrib_bench",
]

#: The torch matrix, oldest first. The first entry is the lower bound in pyproject.toml
#: (``torch>=2.10``) and the last the newest release on the package index.
TORCH_VERSIONS = ["2.10.0", "2.13.0", "2.14.1", "2.15.0"]
TORCH_MIN = TORCH_VERSIONS[0]
#: Releases on this machine's disk (2.13.0 a CPU build, 2.14.1 a CUDA build). The others are
#: CUDA builds from the package index (a few GB, cached by pip after the first download); the
#: machine's pip configuration caps torch at the newest local one, so their sessions lift it.
TORCH_ON_DISK = ("2.13.0", "2.14.1")
#: The CPU build: the cheap torch for sessions that just need one.
TORCH_CPU = "2.13.0"

# Linters are pinned so that a new release cannot fail CI on unchanged code.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
IMPORT_LINTER = "import-linter==2.17"
#: What the ray runner's types need (its package is type-checked from source, not installed).
RAY = "ray>=2.60.0"
#: What the tracker sinks' types need (type-checked from source too).
TRACKERS = ("wandb>=0.31", "mlflow-skinny>=3.18")

TEMPLATE = "contrib/esper-plugin-template"
BROKEN_PLUGIN = "tests/fixtures/broken-plugin"
MLP_FIXTURE = "tests/fixtures/mlp-plugin"
E2E_CHECKS = "tests/e2e/check_plugin_install.py"
CLI_CHECKS = "tests/e2e/check_cli_install.py"
#: Sink distributions in contrib/ whose tests `contrib_sinks` runs.
CONTRIB_SINKS = [
    "contrib/esper-sink-tensorboard",
    "contrib/esper-sink-wandb",
    "contrib/esper-sink-mlflow",
]
#: Runner distributions in contrib/ whose tests `contrib_runners` runs.
CONTRIB_RUNNERS = ["contrib/esper-runner-ray"]
#: The benchmarks and the `esper bench` command (`contrib_bench`, `bench`).
BENCH = "contrib/esper-bench"
#: Every distribution besides esper whose sources the type check covers.
TYPED_PACKAGES = [TEMPLATE, *CONTRIB_SINKS, *CONTRIB_RUNNERS, BENCH, MLP_FIXTURE]


def install_torch(session: nox.Session, version: str) -> None:
    # Pinned and installed first: left to resolve `torch>=2.10` itself, pip would pick the
    # newest torch it can see (a multi-GB CUDA build) for every session.
    if version not in TORCH_ON_DISK:
        # For this session only (every later install in it too: pip would otherwise try to
        # "fix" the installed torch back under the cap).
        session.env["PIP_CONSTRAINT"] = os.devnull
    session.install(f"torch=={version}")


def typecheck_all(session: nox.Session) -> None:
    """mypy --strict on esper/ and esper_plugins/ (pyproject.toml), then each package in
    TYPED_PACKAGES with its own configuration; esper itself is read from the checkout."""
    session.run("mypy")
    root = os.getcwd()
    for package in TYPED_PACKAGES:
        with session.chdir(package):
            session.run("mypy", "--strict", "src", env={"MYPYPATH": root})


@nox.session(reuse_venv=True)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check on the whole repository, then the architecture's
    import contracts (import-linter: layers, no plugin in the core, plugins through
    esper.plugin; pyproject.toml's [tool.importlinter])."""
    session.install(RUFF, IMPORT_LINTER)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # import-linter reads the packages from the checkout; nothing is installed or imported.
    session.run("lint-imports", env={"PYTHONPATH": os.getcwd()})


@nox.session(reuse_venv=True)
@nox.parametrize("torch", TORCH_VERSIONS)
def tests(session: nox.Session, torch: str) -> None:
    """The type check and the test suite against one torch version (tests not marked slow)."""
    install_torch(session, torch)
    # The extras too: esper.testing imports pytest.
    session.install("-e", ".[test]", MYPY, RAY, *TRACKERS)
    session.run("python", "-c", "import torch; print('torch', torch.__version__)")
    typecheck_all(session)
    session.run("pytest", *(session.posargs or ["-m", "not slow"]))


@nox.session(reuse_venv=True)
def typecheck(session: nox.Session) -> None:
    """The type check alone, on the CPU torch (every `tests` session runs it as well)."""
    install_torch(session, TORCH_CPU)
    session.install("-e", ".[test]", MYPY, RAY, *TRACKERS)
    typecheck_all(session)


@nox.session(reuse_venv=False)
def cli(session: nox.Session) -> None:
    """``pip install .`` into a fresh venv, as the README says, then every command once.

    tests/e2e/check_cli_install.py runs run, resume, train, report, runs list, blueprints,
    config show and plugins list/info/doctor with tiny settings, and the third-party topology
    of tests/fixtures/mlp-plugin, pip-installed, through its entry point. (``esper bench`` is
    esper-bench's command: `contrib_bench` runs it.)
    """
    install_torch(session, TORCH_CPU)
    session.install(".")
    session.install(MLP_FIXTURE)
    session.run("python", CLI_CHECKS)


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

    install_torch(session, TORCH_CPU)
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
    must see the sink through its installed entry point. The sinks share the venv, so their
    dependencies must agree (protobuf: tensorboard, wandb and mlflow-skinny all need it). From
    the package index: ``tensorboard`` (with grpcio), ``wandb`` (which runs offline in its
    tests) and ``mlflow-skinny`` with SQLAlchemy and alembic (its tests use a SQLite store).
    """
    install_torch(session, TORCH_CPU)
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
    install_torch(session, TORCH_CPU)
    session.install(".")
    for runner in CONTRIB_RUNNERS:
        session.install(f"{runner}[test]")
    for runner in CONTRIB_RUNNERS:
        with session.chdir(runner):
            session.run("pytest", *(session.posargs or ["-m", "not slow"]))


@nox.session(reuse_venv=False)
def contrib_bench(session: nox.Session) -> None:
    """Install esper and the benchmarks (contrib/esper-bench) with pip, then run their tests.

    A fresh venv, both installed as users get them (not editable): ``esper bench`` must be
    found through esper-bench's entry point. The tests run the GPU check's CPU dry mode; then
    ``esper bench --list`` runs from the installed console script. No benchmark is timed here.
    """
    install_torch(session, TORCH_CPU)
    session.install(".")
    session.install(f"{BENCH}[test]")
    with session.chdir(BENCH):
        session.run("pytest", *session.posargs)
    session.run("esper", "bench", "--list")


@nox.session(reuse_venv=True)
def bench(session: nox.Session) -> None:
    """The benchmark suite (not a default session: it times, it does not test).

    Installs esper and contrib/esper-bench (not editable), whose plugin adds ``esper bench``.
    Writes bench-results/ and the table into docs/benchmarks.md (and docs/bench.json). Takes
    about 10 minutes on 2 CPU cores; ``nox -s bench -- --quick`` is a smoke run.
    """
    install_torch(session, TORCH_CPU)
    session.install(".", BENCH)
    session.run(
        "esper", "bench", "--out", "bench-results", "--docs", "docs/benchmarks.md", *session.posargs
    )


@nox.session(reuse_venv=True)
def results(session: nox.Session) -> None:
    """docs/results.md: every built-in task evaluated over 10 seeds (not a default session).

    Runs tools/results.py: one ``esper eval`` per task (static, heuristic and gradient, and the
    larger-static arm), cells cached in results-evals/ so that a stopped run continues, then
    the tables and their verdicts written into docs/results.md with the machine. About 30
    minutes per task on 2 CPU cores; ``nox -s results -- --only image-impaired`` runs one.
    """
    install_torch(session, TORCH_CPU)
    session.install(".")
    session.run("python", "tools/results.py", *session.posargs)


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
    install_torch(session, TORCH_CPU)
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
