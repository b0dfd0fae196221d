"""The `zats` command tree and its entry point: every failure ends as one `zats: error: ...`
line on stderr and a non-zero exit status, never a traceback (usage errors keep click's
message and status 2; Ctrl-C ends with 130)."""

from __future__ import annotations

import importlib
import ssl
import sys

import click

from zats.client import errors

from .connection import describe, version
from .groups import AliasGroup
from .output import CliError

COMPLETION_HELP = """Print the shell completion script for SHELL (bash, zsh or fish).

\b
  bash:  eval "$(zats completion bash)"   (in ~/.bashrc)
  zsh:   eval "$(zats completion zsh)"    (in ~/.zshrc)
"""


class _Aliases(AliasGroup):
    """Accepts the nats CLI's long names of the commands (`publish`, `subscribe`, `request`,
    `ctx`...), and imports a command's module only when that command runs (or help lists it):
    each `zats` invocation loads what it uses, not `bench`'s workers or JetStream for a `pub`."""

    ALIASES = {"publish": "pub", "subscribe": "sub", "request": "req", "ctx": "context", "str": "stream",
               "con": "consumer", "obs": "consumer", "obj": "object"}
    LAZY = {"pub": ("pubsub", "pub"), "sub": ("pubsub", "sub"), "req": ("pubsub", "req"),
            "reply": ("pubsub", "reply"), "context": ("context_cmd", "context"),
            "server": ("server_cmd", "server"), "bench": ("bench_cmd", "bench"),
            "stream": ("stream_cmd", "stream"), "consumer": ("consumer_cmd", "consumer"),
            "kv": ("kv_cmd", "kv"), "object": ("object_cmd", "object_group"),
            "micro": ("micro_cmd", "micro_group")}

    def list_commands(self, ctx):
        return sorted({*self.commands, *self.LAZY})

    def get_command(self, ctx, cmd_name):
        name = self.ALIASES.get(cmd_name, cmd_name)
        if name not in self.commands and name in self.LAZY:
            module, attr = self.LAZY[name]
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), attr), name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Aliases, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, _, value: _print_version(ctx) if value else None,
              help="Show the version and exit.")
def cli():
    """A NATS client for zats and any nats-server: the Go nats CLI's commands and flags."""


def _print_version(ctx: click.Context) -> None:
    click.echo(f"zats {version()}")
    ctx.exit()


@cli.command("completion", short_help="Print a shell completion script.")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell):
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    click.echo(cls(cli, {}, "zats", "_ZATS_COMPLETE").source())


completion.help = COMPLETION_HELP


def main(argv: list[str] | None = None) -> None:
    try:
        status = cli.main(args=argv, prog_name="zats", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away: nothing more to say
        sys.exit(1)
    except (errors.ZatsError, OSError, ssl.SSLError, TimeoutError) as exc:
        CliError(describe(exc)).show()
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)
