"""The user's remote settings: the status page's access token and the notification URLs.

Stored with the user's settings (``$XDG_CONFIG_HOME/raphe/remote.json``, by default
``~/.config/raphe/remote.json``), readable by the user only (mode 0600).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from raphe.errors import InputError


def settings_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "raphe" / "remote.json"


def load() -> dict[str, Any]:
    path = settings_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the remote settings ({exc})") from None
    return data if isinstance(data, dict) else {}


def save(data: dict[str, Any]) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
              encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def token() -> str | None:
    """The status page's access token, or None when none was made."""
    value = load().get("token")
    return str(value) if value else None


def new_token() -> str:
    """Make (and store) a new access token; the old one stops working."""
    value = secrets.token_urlsafe(24)
    data = load()
    data["token"] = value
    save(data)
    return value


def notify_urls() -> list[str]:
    return [str(u) for u in load().get("notify", [])]


def set_notify_urls(urls: list[str]) -> None:
    data = load()
    data["notify"] = list(urls)
    save(data)
