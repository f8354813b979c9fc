"""The ``esper`` command: a click group whose subcommands are imported only when used.

Core subcommands are listed by import string; plugin subcommands come from
``esper_commands`` records. Nothing here imports torch, so ``esper --help`` and
``esper plugins list`` stay fast; the commands that train import it when they run.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from esper import __version__
from esper.errors import EsperError

#: Core subcommands: name -> "module:attribute" of a click command.
CORE_COMMANDS: dict[str, str] = {
    "blueprints": "esper.cli.cmd_blueprints:blueprints",
    "config": "esper.cli.cmd_config:config",
    "eval": "esper.cli.cmd_eval:eval_",
    "plugins": "esper.cli.cmd_plugins:plugins",
    "presets": "esper.cli.cmd_presets:presets",
    "report": "esper.cli.cmd_report:report",
    "resume": "esper.cli.cmd_resume:resume",
    "runs": "esper.cli.cmd_runs:runs",
    "run": "esper.cli.cmd_run:run",
    "train": "esper.cli.cmd_train:train",
    "watch": "esper.cli.cmd_watch:watch",
}

_MANAGER_KEY = "esper.registry.manager"


def get_manager(ctx: click.Context) -> Any:
    """The plugin manager for this invocation, built once from the root options."""
    root = ctx.find_root()
    if _MANAGER_KEY not in root.meta:
        from esper.registry.manager import build_manager
        from esper.telemetry import logs

        params = root.params
        logs.configure(verbosity=params.get("verbose") or 0, quiet=bool(params.get("quiet")))
        root.meta[_MANAGER_KEY] = build_manager(
            params.get("plugins") or (),
            autoload=False if params.get("disable_plugin_autoload") else None,
            strict=True if params.get("strict_plugins") else None,
        )
    return root.meta[_MANAGER_KEY]


def _hoist_plugin_options(args: list[str]) -> list[str]:
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg == "--plugin" and i + 1 < len(args):
            hoisted += [arg, args[i + 1]]
            i += 2
            continue
        if arg.startswith("--plugin="):
            hoisted.append(arg)
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


class BrokenCommand(click.Command):
    """Stands in for a plugin command that could not be loaded (shown with a dagger)."""

    def __init__(self, name: str, plugin: str, error: str) -> None:
        super().__init__(
            name,
            help=f"\u2020 could not load this command from plugin {plugin!r}: {error}",
            short_help=f"\u2020 broken plugin command ({plugin})",
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )
        self.plugin = plugin
        self.error = error

    def invoke(self, ctx: click.Context) -> None:
        raise EsperError(
            f"command {self.name!r} from plugin {self.plugin!r} could not be loaded: {self.error}"
        )


class EsperGroup(click.Group):
    """Lazily resolves core and plugin subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `--plugin` may follow the subcommand (`esper run --plugin X`), as pytest's -p may come
        # anywhere: plugins must load before the subcommand is resolved, so hoist them.
        return super().parse_args(ctx, _hoist_plugin_options(args))

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # User errors (bad config, missing plugin) exit 2 with a message and no traceback.
        try:
            return super().main(*args, **kwargs)
        except EsperError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        # Ctrl-C: say what happened (where the run stopped, how to continue) and exit 130 as
        # shells do, instead of click's bare "Aborted!" with status 1.
        from esper.recipes.interrupt import EXIT_INTERRUPTED, RunInterrupted

        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            if _owns_process:
                # The run is stopped and its checkpoint written: another Ctrl-C while the
                # process winds down must not turn a clean exit into a traceback.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            click.echo(str(exc) if isinstance(exc, RunInterrupted) else "interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)

    def _plugin_commands(self, ctx: click.Context) -> dict[str, Any]:
        manager = get_manager(ctx)
        return {
            reg.spec.name: reg
            for reg in manager.records("commands")
            if reg.spec.name not in CORE_COMMANDS
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(CORE_COMMANDS) | set(self._plugin_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in CORE_COMMANDS:
            from esper.registry.specs import import_ref

            command: click.Command = import_ref(CORE_COMMANDS[cmd_name])
            return command
        reg = self._plugin_commands(ctx).get(cmd_name)
        if reg is None:
            return None
        try:
            command = reg.spec.load_factory()
        except Exception as exc:
            return BrokenCommand(cmd_name, reg.plugin, str(exc))
        if not isinstance(command, click.Command):
            return BrokenCommand(
                cmd_name, reg.plugin, f"factory gave {type(command).__name__}, not a click.Command"
            )
        return command


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"esper {__version__} (Python {sys.version.split()[0]})")
    manager = get_manager(ctx)
    for info in sorted(manager.infos.values(), key=lambda i: (not i.builtin, i.name)):
        where = f" at {info.location}" if info.location else ""
        version = f"{info.distribution} {info.version}" if info.distribution else "(module)"
        click.echo(f"  {info.name}: {version} [{info.status}]{where}")
    ctx.exit()


# Plugin-loading options are eager so that they are parsed before --help/--version (also
# eager) list the commands that the plugins contribute.
@click.group("esper", cls=EsperGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-p",
    "--plugin",
    "plugins",
    multiple=True,
    is_eager=True,
    metavar="NAME",
    help="Load a plugin (entry-point name or module path); 'no:NAME' blocks one. Repeatable.",
)
@click.option(
    "--strict-plugins",
    is_flag=True,
    is_eager=True,
    help="Fail when an installed plugin cannot be loaded.",
)
@click.option(
    "--disable-plugin-autoload",
    is_flag=True,
    is_eager=True,
    help="Load only built-in plugins and those given with --plugin (or ESPER_DISABLE_PLUGIN_AUTOLOAD=1).",
)
@click.option("-v", "--verbose", count=True, is_eager=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, is_eager=True, help="Only errors on stderr.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    callback=_print_version,
    help="Show esper's version and every plugin's, then exit.",
)
@click.pass_context
def cli(ctx: click.Context, /, **_options: Any) -> None:
    """esper grows neural networks while they train.

    Plugins provide blueprints, hosts, tasks, policies, rewards, agents, governors, runners,
    telemetry sinks, commands and presets; `esper plugins list` shows what is installed.
    """
    # Load plugins now (listing them already did for --help), so that a broken
    # explicit plugin fails before any command does work.
    get_manager(ctx)


#: True in the ``esper`` process itself (`main`); False when the CLI runs inside another
#: program (tests), whose signal handling esper must leave alone.
_owns_process = False


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    global _owns_process
    _owns_process = True
    cli.main(args=argv, prog_name="esper")
