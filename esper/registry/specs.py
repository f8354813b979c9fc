"""Registration records: what a plugin hands to esper for each component it provides.

Registration hooks yield these frozen records and never build anything. A record names its
factory (a callable, or a lazy ``"package.module:attr"`` string imported only when the
component is built) and optionally the attrs class that structures its config section.
Nothing here imports torch.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs

from esper.errors import PluginError

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


def _check_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must match {_NAME_RE.pattern!r}, got {value!r}"
        )


def _check_ref(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None or callable(value):
        return
    if isinstance(value, str) and re.match(r"^[\w.]+:[\w.]+$", value):
        return
    raise ValueError(
        f"{type(instance).__name__}.{attribute.name} must be a callable or a "
        f"'package.module:attr' string, got {value!r}"
    )


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    # A typed converter: with converter=tuple, mypy rejects tags=("a",) at call sites.
    return tuple(value)


def import_ref(ref: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(f"cannot import {module_name!r} (from {ref!r}): {exc}") from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(
                f"{ref!r}: module {module_name!r} has no attribute {qualname!r}"
            ) from exc
    return obj


#: Tags the core gives a meaning (any other tag is a free-form label). When several plugins
#: tag a component of one kind alike, the first loaded wins (esper's own plugins load first).
#: ``default``: the component a run uses when its config names none of this kind.
DEFAULT = "default"
#: ``train-default``: the component ``esper train`` uses when its config names none.
TRAIN_DEFAULT = "train-default"
#: ``topology-default``: the task for its topology, when ``--plugin`` names the topology's
#: plugin and the config names no task.
TOPOLOGY_DEFAULT = "topology-default"


@attrs.frozen(kw_only=True)
class Spec:
    """Fields shared by every registration record.

    ``name`` is the short name inside the registering plugin; the registry id is
    ``"<plugin>:<name>"``. ``factory`` builds the component; it receives the structured config
    object (or nothing when ``config_cls`` is None) plus kind-specific keyword arguments that
    the hook reference documents. ``tags`` are labels for listing and filtering; `DEFAULT`,
    `TRAIN_DEFAULT` and `TOPOLOGY_DEFAULT` make a component the one picked when a config names
    none (this is how esper's defaults are chosen: the core names no plugin).
    """

    kind: ClassVar[str] = "component"
    label: ClassVar[str] = "component"

    name: str = attrs.field(validator=_check_name)
    factory: str | Callable[..., Any] = attrs.field(validator=_check_ref)
    config_cls: str | type | None = attrs.field(default=None, validator=_check_ref)
    summary: str = ""
    tags: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)

    def load_factory(self) -> Callable[..., Any]:
        """The factory, importing it if it was given as a string."""
        obj = import_ref(self.factory) if isinstance(self.factory, str) else self.factory
        if not callable(obj):
            raise PluginError(
                f"{self.kind} {self.name!r}: factory {self.factory!r} is not callable"
            )
        return obj  # type: ignore[no-any-return,unused-ignore]

    def load_config_cls(self) -> type | None:
        """The config class, importing it if it was given as a string."""
        if self.config_cls is None:
            return None
        obj = import_ref(self.config_cls) if isinstance(self.config_cls, str) else self.config_cls
        if not (isinstance(obj, type) and attrs.has(obj)):
            raise PluginError(
                f"{self.kind} {self.name!r}: config class {self.config_cls!r} is not an attrs class"
            )
        return obj


def _topology(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    _check_name(instance, attribute, value)


@attrs.frozen(kw_only=True)
class BlueprintSpec(Spec):
    """A seed module that can grow into a slot of a host with the same ``topology``.

    The factory is called as ``factory(dim, config)`` and returns an ``nn.Module`` mapping
    features of width ``dim`` to the same shape. ``identity_at_birth`` promises that the new
    module's output equals its input until it is trained.
    """

    kind: ClassVar[str] = "blueprints"
    label: ClassVar[str] = "blueprint"
    topology: str = attrs.field(validator=_topology)
    identity_at_birth: bool = False
    #: Exact parameter count at width ``dim``: ``fn(dim) -> int`` or a lazy "pkg.mod:fn" string,
    #: so that catalogues can be listed without building (or importing torch).
    param_formula: str | Callable[[int], int] | None = attrs.field(
        default=None, validator=_check_ref
    )

    def param_count(self, dim: int) -> int | None:
        """The exact parameter count at ``dim``, or None when the blueprint declares no formula."""
        if self.param_formula is None:
            return None
        fn = (
            import_ref(self.param_formula)
            if isinstance(self.param_formula, str)
            else self.param_formula
        )
        return int(fn(dim))


@attrs.frozen(kw_only=True)
class HostSpec(Spec):
    """A host network that declares named injection points (slots) for seeds.

    ``feature_width`` is the widest slot's feature width (``InjectionPoint.channels``) of the
    host built with its default configuration, when the host's plugin declares it: listings
    such as ``esper blueprints`` size this topology's blueprints with it, without building
    anything.
    """

    kind: ClassVar[str] = "hosts"
    label: ClassVar[str] = "host"
    topology: str = attrs.field(validator=_topology)
    feature_width: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )


@attrs.frozen(kw_only=True)
class TaskSpec(Spec):
    """A training task: data, host, loss and metrics. ``topology`` names its host family."""

    kind: ClassVar[str] = "tasks"
    label: ClassVar[str] = "task"
    topology: str = attrs.field(validator=_topology)


@attrs.frozen(kw_only=True)
class RewardSpec(Spec):
    """A reward function for training a controller."""

    kind: ClassVar[str] = "rewards"
    label: ClassVar[str] = "reward"


@attrs.frozen(kw_only=True)
class PolicySpec(Spec):
    """A controller that decides when and what to grow. ``trainable`` policies learn with an agent."""

    kind: ClassVar[str] = "policies"
    label: ClassVar[str] = "policy"
    trainable: bool = False


@attrs.frozen(kw_only=True)
class AgentSpec(Spec):
    """A learning algorithm that updates a trainable policy from rollouts (e.g. PPO)."""

    kind: ClassVar[str] = "agents"
    label: ClassVar[str] = "agent"


@attrs.frozen(kw_only=True)
class GovernorSpec(Spec):
    """A fail-safe that watches a host's training and rolls it back when it blows up."""

    kind: ClassVar[str] = "governors"
    label: ClassVar[str] = "governor"


@attrs.frozen(kw_only=True)
class RunnerSpec(Spec):
    """Runs many host-training environments (sequentially, vectorised, or distributed)."""

    kind: ClassVar[str] = "runners"
    label: ClassVar[str] = "runner"


@attrs.frozen(kw_only=True)
class SinkSpec(Spec):
    """A telemetry sink. The factory is called as ``factory(config, run_dir=...)``."""

    kind: ClassVar[str] = "telemetry_sinks"
    label: ClassVar[str] = "telemetry sink"


@attrs.frozen(kw_only=True)
class CommandSpec(Spec):
    """A CLI subcommand. The factory is, or lazily names, a ``click.Command``.

    ``name`` is the subcommand name users type; it must not shadow a core command.
    """

    kind: ClassVar[str] = "commands"
    label: ClassVar[str] = "command"


#: The commands a preset may be meant for.
PRESET_COMMANDS = ("run", "train", "eval")


@attrs.frozen(kw_only=True)
class PresetSpec(Spec):
    """A named configuration: the raw config a command starts from (``--preset NAME``).

    The factory takes no arguments and returns the preset's raw config as a plain dict, the
    shape a TOML config file parses to; it is called only when the preset is used, and
    ``--config`` files and ``--set`` overrides are merged over what it returns. ``command`` is
    the command the preset is meant for (one of `PRESET_COMMANDS`). ``path``, when given, is
    the TOML file the preset is read from: ``esper presets show`` prints it as shipped,
    comments included.
    """

    kind: ClassVar[str] = "presets"
    label: ClassVar[str] = "preset"
    command: str = attrs.field(default="run", validator=attrs.validators.in_(PRESET_COMMANDS))
    path: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )


SPEC_TYPES: tuple[type[Spec], ...] = (
    BlueprintSpec,
    HostSpec,
    TaskSpec,
    RewardSpec,
    PolicySpec,
    AgentSpec,
    GovernorSpec,
    RunnerSpec,
    SinkSpec,
    CommandSpec,
    PresetSpec,
)
SPEC_BY_KIND: dict[str, type[Spec]] = {t.kind: t for t in SPEC_TYPES}
KIND_LABELS: dict[str, str] = {t.kind: t.label for t in SPEC_TYPES}
