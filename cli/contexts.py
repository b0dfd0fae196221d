"""Saved connection settings ("contexts"), kept as the nats CLI keeps its own: one JSON file per
context, `$XDG_CONFIG_HOME/zats/context/NAME.json` (`~/.config` when XDG_CONFIG_HOME is unset),
and the selected context's name in `$XDG_CONFIG_HOME/zats/context.txt`. The keys are the nats
CLI's (`url`, `user`, `password`, `token`, `creds`, `nkey`, `cert`, `key`, `ca`, `tls_first`,
`inbox_prefix`, `description`), so a context file of the nats CLI can be copied in as it is."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .output import CliError

KEYS = ("description", "url", "user", "password", "token", "creds", "nkey", "cert", "key", "ca",
        "tls_first", "inbox_prefix")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "zats"


def _path(name: str) -> Path:
    if not _NAME.fullmatch(name) or ".." in name:
        raise CliError(f"invalid context name {name!r} (letters, digits, '_', '-' and '.')")
    return config_dir() / "context" / f"{name}.json"


def names() -> list[str]:
    folder = config_dir() / "context"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))


def exists(name: str) -> bool:
    return _path(name).is_file()


def load(name: str) -> dict:
    path = _path(name)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CliError(f"unknown context {name!r}") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read context {name!r} ({path}): {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"context {name!r} ({path}) is not a JSON object")
    return data


def save(name: str, data: dict) -> Path:
    path = _path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Contexts may hold passwords and tokens: readable by the owner only.
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({k: data[k] for k in KEYS if data.get(k) not in (None, "", False)}, f, indent=2)
        f.write("\n")
    os.replace(path.with_suffix(".tmp"), path)
    return path


def remove(name: str) -> None:
    try:
        _path(name).unlink()
    except FileNotFoundError:
        raise CliError(f"unknown context {name!r}") from None
    if selected() == name:
        select(None)


def selected() -> str | None:
    try:
        name = (config_dir() / "context.txt").read_text().strip()
    except OSError:
        return None
    return name or None


def select(name: str | None) -> None:
    if name is not None and not exists(name):
        raise CliError(f"unknown context {name!r}")
    path = config_dir() / "context.txt"
    if name is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n")
