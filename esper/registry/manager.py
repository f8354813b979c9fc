"""Plugin discovery and loading.

esper loads plugins with its own loop over the ``esper.plugins`` entry points instead of
pluggy's ``load_setuptools_entrypoints``, which stops at the first plugin that fails to import
and silently drops a second distribution that uses the same entry-point name. Here every
plugin is loaded on its own, and its outcome (loaded, failed with a traceback, blocked,
skipped as a duplicate) is recorded in a `PluginInfo`.

Order (as in pytest): ``no:NAME`` blocks first, then the built-in plugins (the entry points of
the ``esper`` distribution itself), then plugins named with ``--plugin``, then every other
installed plugin unless autoload is disabled. A plugin named explicitly that fails is fatal; an
autoloaded one that fails is skipped with one warning, or is fatal under ``strict``.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import attrs
import pluggy
import structlog

from esper import DISTRIBUTION
from esper.errors import PluginError
from esper.registry import hookspecs
from esper.registry.hookspecs import ENTRY_POINT_GROUP
from esper.registry.specs import SPEC_BY_KIND, Spec

log = structlog.get_logger(__name__)

#: esper's own distribution (its plugins are the built-ins).
CORE_DISTRIBUTION = DISTRIBUTION
ENV_DISABLE_AUTOLOAD = "ESPER_DISABLE_PLUGIN_AUTOLOAD"
ENV_STRICT = "ESPER_STRICT_PLUGINS"
ENV_TRACE = "ESPER_TRACE_PLUGINS"
ENV_PLUGINS = "ESPER_PLUGINS"

REGISTRATION_HOOKS: dict[str, str] = {f"esper_{kind}": kind for kind in SPEC_BY_KIND}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def normalize_dist_name(dist_name: str) -> str:
    return dist_name.lower().replace("_", "-").replace(".", "-")


@attrs.define(kw_only=True)
class PluginInfo:
    """What esper knows about one plugin, loaded or not."""

    name: str
    status: str  # "loaded" | "failed" | "blocked" | "duplicate"
    module: str
    distribution: str | None = None
    version: str | None = None
    location: str | None = None
    builtin: bool = False
    explicit: bool = False
    hooks: list[str] = attrs.field(factory=list)
    registered: dict[str, list[str]] = attrs.field(factory=dict)
    error: str | None = None
    traceback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Registration:
    """One record registered by one plugin."""

    plugin: str
    spec: Spec

    @property
    def id(self) -> str:
        return f"{self.plugin}:{self.spec.name}"


@attrs.frozen
class _Candidate:
    name: str
    entry_point: md.EntryPoint
    distribution: str
    version: str
    location: str | None


def _dist_location(dist: md.Distribution) -> str | None:
    path = getattr(dist, "_path", None)
    return str(path) if path is not None else None


def discover_entry_points() -> tuple[list[_Candidate], list[_Candidate]]:
    """All ``esper.plugins`` entry points, and those shadowed by an earlier one of the same name.

    Iterates distributions (not the de-duplicated ``entry_points()``) so that duplicates are
    seen and reported instead of vanishing. The same distribution found twice on sys.path
    (a stray egg-info, a lib64 symlink) counts once.
    """
    chosen: dict[str, _Candidate] = {}
    shadowed: list[_Candidate] = []
    seen_dists: set[str] = set()
    for dist in md.distributions():
        dist_name = dist.metadata["Name"] or "?"
        key = normalize_dist_name(dist_name)
        if key in seen_dists:
            continue
        seen_dists.add(key)
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            cand = _Candidate(ep.name, ep, dist_name, dist.version, _dist_location(dist))
            if ep.name in chosen:
                shadowed.append(cand)
            else:
                chosen[ep.name] = cand
    return list(chosen.values()), shadowed


class EsperPluginManager(pluggy.PluginManager):
    """A pluggy manager that knows esper's hooks and records the fate of every plugin."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.registrations: list[Registration] = []
        if _truthy(os.environ.get(ENV_TRACE)):
            self.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
            self.enable_tracing()

    # -- loading ---------------------------------------------------------------------------

    def load(
        self,
        plugins: Sequence[str] = (),
        *,
        autoload: bool | None = None,
        strict: bool | None = None,
    ) -> EsperPluginManager:
        """Load built-in, explicit and (unless disabled) installed plugins.

        ``plugins`` holds ``--plugin`` values: entry-point names, importable module paths, or
        ``no:NAME`` to block a plugin. ``autoload``/``strict`` default to the environment
        variables ``ESPER_DISABLE_PLUGIN_AUTOLOAD`` / ``ESPER_STRICT_PLUGINS``.
        """
        if autoload is None:
            autoload = not _truthy(os.environ.get(ENV_DISABLE_AUTOLOAD))
        if strict is None:
            strict = _truthy(os.environ.get(ENV_STRICT))
        requested = list(plugins) + [
            p.strip() for p in os.environ.get(ENV_PLUGINS, "").split(",") if p.strip()
        ]
        explicit = [p for p in requested if not p.startswith("no:")]
        for blocked in (p[3:] for p in requested if p.startswith("no:")):
            self.set_blocked(blocked)
            self.infos[blocked] = PluginInfo(name=blocked, status="blocked", module="")

        candidates, shadowed = discover_entry_points()
        by_name = {c.name: c for c in candidates}

        for cand in candidates:
            if normalize_dist_name(cand.distribution) == CORE_DISTRIBUTION:
                self._load_candidate(
                    cand, builtin=True, explicit=cand.name in explicit, strict=True
                )

        for name in explicit:
            self._load_explicit(name, by_name)

        if autoload:
            for cand in candidates:
                if cand.name not in self.infos:
                    self._load_candidate(cand, builtin=False, explicit=False, strict=strict)

        self._record_shadowed(shadowed, by_name)
        # Safety net: every hook implementation must match a spec (misspelled hooks).
        self.check_pending()
        return self

    def _record_shadowed(self, shadowed: list[_Candidate], by_name: dict[str, _Candidate]) -> None:
        """Record each entry point not loaded because an earlier one has the same name."""
        for cand in shadowed:
            winner = by_name[cand.name]
            self.infos.setdefault(
                f"{cand.name} ({cand.distribution})",
                PluginInfo(
                    name=cand.name,
                    status="duplicate",
                    module=cand.entry_point.value,
                    distribution=cand.distribution,
                    version=cand.version,
                    location=cand.location,
                    error=(
                        f"entry point name {cand.name!r} is also provided by "
                        f"{winner.distribution} {winner.version}; this one was not loaded"
                    ),
                ),
            )

    def _load_explicit(self, name: str, by_name: dict[str, _Candidate]) -> None:
        if self.is_blocked(name):
            raise PluginError(f"plugin {name!r} is both requested and blocked (no:{name})")
        existing = self.infos.get(name)
        if existing is not None and existing.status == "loaded":
            existing.explicit = True
            return
        if name in by_name:
            self._load_candidate(by_name[name], builtin=False, explicit=True, strict=True)
            return
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not name.startswith(exc.name) and exc.name != name:
                # The module exists but one of its own imports is missing.
                raise PluginError(f'error importing plugin "{name}": {exc}') from exc
            known = sorted(set(by_name) | {i.name for i in self.infos.values()})
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = (
                f" Did you mean: {', '.join(close)}?"
                if close
                else f" Installed plugins: {', '.join(known) or 'none'}."
            )
            raise PluginError(
                f'plugin "{name}" not found: it is neither an installed esper.plugins entry point '
                f"nor an importable module.{hint} (`esper plugins list` shows what is installed)"
            ) from exc
        except Exception as exc:
            raise PluginError(f'error importing plugin "{name}": {exc!r}') from exc
        info = PluginInfo(
            name=name,
            status="loaded",
            module=name,
            location=getattr(module, "__file__", None),
            explicit=True,
        )
        self._register_module(module, info, strict=True)

    def _load_candidate(
        self, cand: _Candidate, *, builtin: bool, explicit: bool, strict: bool
    ) -> None:
        info = PluginInfo(
            name=cand.name,
            status="loaded",
            module=cand.entry_point.value,
            distribution=cand.distribution,
            version=cand.version,
            location=cand.location,
            builtin=builtin,
            explicit=explicit,
        )
        if self.is_blocked(cand.name):
            # A blocked plugin is never imported.
            return
        try:
            module = cand.entry_point.load()
        except Exception as exc:
            self._fail(info, f"import failed: {exc!r}", strict=strict or explicit)
            return
        if not isinstance(module, ModuleType):
            self._fail(
                info, f"entry point must name a module, got {type(module).__name__}", strict=strict
            )
            return
        info.location = getattr(module, "__file__", None) or info.location
        self._register_module(module, info, strict=strict or explicit)

    def add_plugin(self, plugin: object, name: str) -> PluginInfo:
        """Register an in-process plugin (a module or any object with hook implementations).

        Used by tests and by programs that embed esper; failures raise `PluginError`.
        """
        info = PluginInfo(
            name=name,
            status="loaded",
            module=getattr(plugin, "__name__", type(plugin).__qualname__),
            explicit=True,
        )
        self._register_module(plugin, info, strict=True)
        return info

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin and forget what it registered."""
        plugin = self.get_plugin(name)
        if plugin is not None:
            self.unregister(plugin)
        self.infos.pop(name, None)
        self.registrations = [r for r in self.registrations if r.plugin != name]

    def _register_module(self, module: object, info: PluginInfo, *, strict: bool) -> None:
        try:
            self.register(module, name=info.name)
        except Exception as exc:
            self._fail(info, f"registration failed: {exc}", strict=strict)
            return
        unknown = [
            caller.name for caller in self.get_hookcallers(module) or [] if not caller.has_spec()
        ]
        if unknown:
            self.unregister(module)
            msgs = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, self._spec_names(), n=1)
                msgs.append(hook + (f" (did you mean {close[0]}?)" if close else ""))
            self._fail(
                info, "unknown hook(s): " + ", ".join(msgs), strict=strict, with_traceback=False
            )
            return
        info.hooks = sorted(caller.name for caller in self.get_hookcallers(module) or [])
        try:
            records = list(self._collect_from(module, info.name))
        except Exception as exc:
            self.unregister(module)
            self._fail(info, f"registration hook failed: {exc!r}", strict=strict)
            return
        for reg in records:
            info.registered.setdefault(reg.spec.kind, []).append(reg.spec.name)
        self.registrations.extend(records)
        self.infos[info.name] = info

    def _collect_from(self, module: object, plugin_name: str) -> Iterable[Registration]:
        for hook_name, kind in REGISTRATION_HOOKS.items():
            impl = getattr(module, hook_name, None)
            if impl is None or self.parse_hookimpl_opts(module, hook_name) is None:
                continue
            expected = SPEC_BY_KIND[kind]
            for record in impl() or ():
                if not isinstance(record, expected):
                    raise PluginError(
                        f"{hook_name} of plugin {plugin_name!r} yielded "
                        f"{type(record).__name__}, expected {expected.__name__}"
                    )
                yield Registration(plugin_name, record)

    def _spec_names(self) -> list[str]:
        return [
            name
            for name in dir(self.hook)
            if name.startswith("esper_") and getattr(self.hook, name).has_spec()
        ]

    def _fail(
        self, info: PluginInfo, message: str, *, strict: bool, with_traceback: bool = True
    ) -> None:
        info.status = "failed"
        info.error = message
        info.traceback = traceback.format_exc() if with_traceback else None
        self.infos[info.name] = info
        if strict:
            raise PluginError(f'plugin "{info.name}" ({info.module}): {message}')
        log.warning(
            "plugin skipped",
            plugin=info.name,
            distribution=info.distribution,
            error=message,
            hint="run `esper plugins info NAME` for the traceback; --strict-plugins makes this fatal",
        )

    # -- queries ---------------------------------------------------------------------------

    def loaded(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.status == "loaded"]

    def failed(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.status in {"failed", "duplicate"}]

    def records(self, kind: str) -> list[Registration]:
        """Every record of ``kind`` (e.g. ``"blueprints"``), in plugin load order."""
        if kind not in SPEC_BY_KIND:
            raise PluginError(f"unknown component kind {kind!r}; known: {', '.join(SPEC_BY_KIND)}")
        return [r for r in self.registrations if r.spec.kind == kind]


def build_manager(
    plugins: Sequence[str] = (), *, autoload: bool | None = None, strict: bool | None = None
) -> EsperPluginManager:
    """A fresh manager with plugins loaded (see `EsperPluginManager.load`)."""
    return EsperPluginManager().load(plugins, autoload=autoload, strict=strict)
