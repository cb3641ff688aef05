"""The web's settings, declared once as data: name, type, default, help line.

They are top-level keys of the settings file (``session_hours = 8``) and ``MDA_<NAME>``
variables. The shell's ``mda.settings.Settings`` extends this class, so the one settings
object the shell loads is what ``create_app`` and ``AuthConfig`` take; the web never parses
a value itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["WebConfig"]


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret})


@dataclass(frozen=True)
class WebConfig:
    """Login, sessions and the map page."""

    secret_key: str = _setting(
        "",
        "Key that signs session cookies. Empty: generated once and kept in the data directory.",
        secret=True,
    )
    tiles_url: str = _setting(
        "",
        "Optional online tile layer (e.g. an internal tile server). Empty: offline basemap only.",
    )
    session_hours: float = _setting(
        12.0,
        "Hours a web login lasts before the officer must log in again (a watch and its handover).",
    )
    cookie_secure: bool = _setting(
        True,
        "Mark the session cookie Secure (HTTPS only; browsers also accept it on 127.0.0.1 "
        "and localhost). Turn off only when served over plain HTTP to other machines.",
    )
    demo_token: str = _setting(
        "",
        "A preset API token (supervisor role) for scripts and the one-click login link "
        "http://HOST:PORT/?token=...; empty: none.",
        secret=True,
    )
    login_rate_limit: int = _setting(
        5,
        "Failed logins allowed per user name within login_rate_window_s before further "
        "attempts are refused (HTTP 429).",
    )
    login_rate_limit_ip: int = _setting(
        20, "Failed logins allowed per client address within login_rate_window_s."
    )
    login_rate_window_s: float = _setting(900.0, "Window of the failed-login rate limits, seconds.")
