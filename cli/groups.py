"""`AliasGroup`: a click group that also answers to other names of its commands (the nats CLI's
aliases: `publish` for `pub`, `kv rm` for `kv del`...), which its help leaves out."""

from __future__ import annotations

import click


class AliasGroup(click.Group):
    """Subclasses set ALIASES: other name -> command name."""

    ALIASES: dict[str, str] = {}

    def get_command(self, ctx, cmd_name):
        return super().get_command(ctx, self.ALIASES.get(cmd_name, cmd_name))

    def resolve_command(self, ctx, args):
        _, cmd, rest = super().resolve_command(ctx, args)
        return cmd.name, cmd, rest
