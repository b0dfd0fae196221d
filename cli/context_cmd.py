"""`zats context add|ls|select|info|rm`: saved connection settings, as `nats context`."""

from __future__ import annotations

import functools
import os

import click

from . import contexts
from .connection import CONTEXT_KEYS, connection_flags
from .output import CliError, out, print_json

# Context key -> label in `context info`, in the nats CLI's order and wording.
_LABELS = {"description": "Description", "url": "Server URLs", "user": "Username",
           "password": "Password", "token": "Token", "creds": "Credentials", "nkey": "NKey",
           "cert": "Certificate", "key": "Key", "ca": "CA", "tls_first": "TLS First",
           "inbox_prefix": "Inbox Prefix"}
_FILES = ("creds", "nkey", "cert", "key", "ca")


@click.group("context")
def context():
    """Manage saved connection settings (contexts)."""


@context.command("add")
@click.argument("name")
@click.option("--description", help="What the context is for")
@click.option("--select", "select_", is_flag=True, help="Select it as the default")
@functools.partial(connection_flags, context_options=False)
def add(name, description, select_, flags):
    """Create or update context NAME from the connection options given."""
    data = contexts.load(name) if contexts.exists(name) else {}
    for field, value in flags.items():
        if value is not None and field in CONTEXT_KEYS:
            data[CONTEXT_KEYS[field]] = value
    if data.get("user") and not data.get("password"):
        data["token"] = data.pop("user")  # as the nats CLI: a lone user is a token
    if description is not None:
        data["description"] = description
    if "url" not in data:
        data["url"] = "nats://127.0.0.1:4222"
    contexts.save(name, data)
    if select_:
        contexts.select(name)
    _show(name)


@context.command("ls")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output")
@click.option("--names", is_flag=True, help="Only the names")
def ls(as_json, names):
    """List the saved contexts; the selected one is marked with *."""
    current = contexts.selected()
    found = contexts.names()
    if as_json:
        print_json([{"name": n, "description": _safe_load(n).get("description", ""),
                     "selected": n == current} for n in found])
        return
    if names:
        for n in found:
            out(n)
        return
    if not found:
        out("No contexts defined")
        return
    from rich.table import Table

    from .output import console

    table = Table(title="Known Contexts", title_justify="left")
    table.add_column("Name")
    table.add_column("Description")
    for n in found:
        table.add_row(n + ("*" if n == current else ""), _safe_load(n).get("description", ""))
    console().print(table)


@context.command("select")
@click.argument("name", required=False)
def select(name):
    """Make NAME the default context (without NAME: show the selected one)."""
    if name is None:
        current = contexts.selected()
        if current is None:
            raise CliError("no context is selected")
        out(current)
        return
    contexts.select(name)
    _show(name)


@context.command("unselect")
def unselect():
    """Select no context: the defaults and flags alone apply."""
    contexts.select(None)


@context.command("info")
@click.argument("name", required=False)
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output")
def info(name, as_json):
    """Show context NAME (default: the selected one)."""
    name = name or contexts.selected()
    if name is None:
        raise CliError("no default context and no name given")
    if as_json:
        print_json(contexts.load(name))
        return
    _show(name)


@context.command("rm")
@click.argument("name")
@click.option("-f", "--force", is_flag=True, help="Accepted for the nats CLI's sake: rm never asks")
def rm(name, force):
    """Remove context NAME."""
    contexts.remove(name)
    out(f"Removed context {name!r}")


def _safe_load(name: str) -> dict:
    try:
        return contexts.load(name)
    except CliError:
        return {}


def _show(name: str) -> None:
    data = contexts.load(name)
    rows = []
    for key, label in _LABELS.items():
        value = data.get(key)
        if value in (None, "", False):
            continue
        if key == "password":
            value = "*" * len(str(value))
        elif key in _FILES:
            path = os.path.expanduser(str(value))
            value = f"{value} ({'OK' if os.access(path, os.R_OK) else 'ERROR'})"
        elif value is True:
            value = "true"
        rows.append((label, str(value)))
    rows.append(("Path", str(contexts.config_dir() / "context" / f"{name}.json")))
    width = max(len(label) for label, _ in rows)
    out(f'NATS Configuration Context "{name}"')
    out()
    for label, value in rows:
        out(f"  {label:>{width}}: {value}")
    out()
