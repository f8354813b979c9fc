"""``esper plugins list|info|doctor``: what is installed, and what is wrong with it."""

from __future__ import annotations

import difflib
import importlib.metadata as md
import importlib.util
import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import click

from esper import __version__
from esper.cli.main import CORE_COMMANDS, get_manager
from esper.errors import EsperError
from esper.registry.hookspecs import ENTRY_POINT_GROUP
from esper.registry.manager import (
    CORE_DISTRIBUTION,
    EsperPluginManager,
    PluginInfo,
    discover_entry_points,
    normalize_dist_name,
)


@click.group()
def plugins() -> None:
    """Inspect installed plugins."""


def _summary(info: PluginInfo) -> str:
    parts = [f"{len(names)} {kind}" for kind, names in sorted(info.registered.items())]
    return ", ".join(parts) or "no components"


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List plugins with their distribution, hooks and registered components."""
    manager: EsperPluginManager = get_manager(ctx)
    infos = sorted(manager.infos.values(), key=lambda i: (not i.builtin, i.name))
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    for info in infos:
        if info.status != "loaded":
            continue
        origin = (
            "built-in"
            if info.builtin
            else f"{info.distribution or 'module'} {info.version or ''}".strip()
        )
        click.echo(f"{info.name}  ({origin})  {_summary(info)}")
    bad = [i for i in infos if i.status != "loaded"]
    if bad:
        click.echo("\nnot loaded:")
        for info in bad:
            click.echo(f"  {info.name}  [{info.status}]  {info.error or ''}".rstrip())


@plugins.command()
@click.argument("name")
@click.pass_context
def info(ctx: click.Context, name: str) -> None:
    """Show one plugin in detail, including the traceback of a failure."""
    manager: EsperPluginManager = get_manager(ctx)
    found = manager.infos.get(name)
    if found is None:
        close = difflib.get_close_matches(name, list(manager.infos), n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise EsperError(f"no plugin named {name!r}.{hint}")
    for key, value in found.as_dict().items():
        if key in {"registered", "hooks", "traceback"} or value in (None, "", [], {}):
            continue
        click.echo(f"{key}: {value}")
    if found.hooks:
        click.echo("hooks: " + ", ".join(found.hooks))
    for kind, names in sorted(found.registered.items()):
        click.echo(f"{kind}: " + ", ".join(f"{found.name}:{n}" for n in names))
    if found.traceback:
        click.echo("traceback:\n" + found.traceback.rstrip())


def _installed_from(dist: md.Distribution) -> str | None:
    """The local directory a distribution was installed from (PEP 610 direct_url.json)."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        url = json.loads(text).get("url", "")
    except (ValueError, AttributeError):
        return None
    if not isinstance(url, str) or not url.startswith("file://"):
        return None
    return unquote(urlparse(url).path).rstrip("/")


def _leftover_egg_info(dist: md.Distribution, sources: list[Path]) -> bool:
    """True for a NAME.egg-info inside the directory another copy was installed from."""
    path = Path(str(getattr(dist, "_path", "")))
    if path.suffix != ".egg-info":
        return False
    resolved = path.resolve()  # sys.path may hold "" or a relative entry
    return any(resolved.is_relative_to(source) for source in sources)


def _duplicate_installs() -> list[str]:
    """Plugin distributions that are installed more than once.

    ``pip install [-e] .`` leaves ``NAME.egg-info`` in the project directory; when that
    directory is on sys.path (the working directory under ``python -m``) it looks like a second
    install. Such a copy is not reported when another copy names that directory as its source.
    """
    copies: dict[str, list[md.Distribution]] = {}
    for dist in md.distributions():
        if any(ep.group == ENTRY_POINT_GROUP for ep in dist.entry_points):
            copies.setdefault(normalize_dist_name(dist.metadata["Name"] or "?"), []).append(dist)
    problems = []
    for name, dists in sorted(copies.items()):
        sources = [Path(src).resolve() for d in dists if (src := _installed_from(d)) is not None]
        real = [d for d in dists if not _leftover_egg_info(d, sources)]
        if len(real) > 1:
            paths = ", ".join(str(getattr(d, "_path", "?")) for d in real)
            problems.append(f"distribution {name} is installed more than once: {paths}")
    return problems


#: The distribution that holds the name ``esper`` on the package index: an unrelated library
#: (an entity-component system) that also installs a top-level ``esper`` import package.
FOREIGN_NAME = "esper"


def _own_packages() -> set[str]:
    """The top-level import packages esper's distribution installs (from its metadata)."""
    owned = {
        package
        for package, dists in md.packages_distributions().items()
        if CORE_DISTRIBUTION in {normalize_dist_name(d) for d in dists}
    }
    return owned or {__name__.split(".")[0]}  # a source tree that was never installed


def import_name_clashes() -> list[str]:
    """Other distributions that install files into esper's import packages.

    Two distributions that both own ``esper/__init__.py`` overwrite each other's files: the one
    installed last wins, and uninstalling either breaks the other.
    """
    ours = _own_packages()
    problems = []
    for dist in md.distributions():
        name = dist.metadata["Name"] or "?"
        if normalize_dist_name(name) == CORE_DISTRIBUTION:
            continue
        owned = {file.parts[0] for file in dist.files or () if file.parts and file.parts[0] in ours}
        for package in sorted(owned):
            problems.append(
                f"distribution {name} {dist.version} also installs the import package "
                f"{package!r}, which {CORE_DISTRIBUTION} owns: the two overwrite each other's "
                f"files; uninstall one of them (pip uninstall {name})"
            )
    return problems


def diagnose(manager: EsperPluginManager) -> list[str]:
    """Every problem `esper plugins doctor` reports (empty when healthy)."""
    from esper.registry import Registries, command_conflicts

    problems: list[str] = []
    problems.extend(import_name_clashes())
    problems.extend(_duplicate_installs())

    candidates, shadowed = discover_entry_points()
    for cand in candidates + shadowed:
        module = cand.entry_point.module
        if _module_missing(module):
            problems.append(
                f"entry point {cand.name!r} of {cand.distribution} names module {module!r}, which does not exist "
                "(stale install? reinstall or uninstall the distribution)"
            )
    for cand in shadowed:
        problems.append(
            f"entry point name {cand.name!r} is provided by more than one distribution ({cand.distribution})"
        )

    for info in manager.infos.values():
        if info.status == "failed":
            problems.append(f"plugin {info.name!r} failed to load: {info.error}")

    seen_dists: set[str] = set()
    for cand in candidates:
        key = normalize_dist_name(cand.distribution)
        if key == CORE_DISTRIBUTION or key in seen_dists:
            continue
        seen_dists.add(key)
        problems.extend(_core_requirement_problems(cand.distribution))

    problems.extend(Registries(manager).conflicts())
    problems.extend(command_conflicts(manager, set(CORE_COMMANDS)))
    return problems


def _module_missing(module: str) -> bool:
    """Whether ``module`` cannot be found (without importing it)."""
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def _core_requirement_problems(distribution: str) -> list[str]:
    """Problems with what a plugin distribution requires of esper: the unrelated ``esper`` of
    the package index, or a version of esper-nn other than the one installed."""
    from packaging.requirements import InvalidRequirement, Requirement

    problems: list[str] = []
    for text in md.distribution(distribution).requires or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        if normalize_dist_name(req.name) == FOREIGN_NAME:
            problems.append(
                f"{distribution} requires {text!r}: on the package index that name is "
                f"an unrelated library; esper is distributed as {CORE_DISTRIBUTION!r}"
            )
            continue
        if normalize_dist_name(req.name) != CORE_DISTRIBUTION:
            continue
        if req.specifier and not req.specifier.contains(__version__, prereleases=True):
            problems.append(
                f"{distribution} requires {text!r} but {CORE_DISTRIBUTION} {__version__} is installed"
            )
    return problems


@plugins.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool) -> None:
    """Check installed plugins; exits 1 when a problem is found."""
    manager: EsperPluginManager = get_manager(ctx)
    problems = diagnose(manager)
    loaded = len(manager.loaded())
    if as_json:
        click.echo(json.dumps({"plugins_loaded": loaded, "problems": problems}, indent=2))
    elif problems:
        click.echo(f"{len(problems)} problem(s) with {loaded} loaded plugin(s):")
        for problem in problems:
            click.echo(f"  - {problem}")
    else:
        click.echo(f"no problems found ({loaded} plugins loaded)")
    if problems:
        ctx.exit(1)
