"""Connections: one place that opens them and turns psycopg's failures into StoreErrors."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import DatabaseUnavailable

__all__ = ["connect", "connect_sync", "mask_dsn", "describe_connect_error"]


def mask_dsn(url: str) -> str:
    """The URL or DSN with any password replaced, fit for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    if "password" not in params:
        return url
    if "://" in url:
        # Keep the URL shape people typed: user:***@host
        scheme, rest = url.split("://", 1)
        creds, sep, tail = rest.rpartition("@")
        if sep:
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{tail}"
    params["password"] = "***"
    return make_conninfo(**params)


def describe_connect_error(url: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    # libpq prefixes the reason with the socket it tried; the reason is what helps.
    if "failed:" in first:
        first = first.rsplit("failed:", 1)[1].strip()
    return f"cannot connect to database {mask_dsn(url)}: {first}"


# Every session speaks UTC, so timestamps read back carry +00:00 whatever the server's zone.
_UTC = "-c TimeZone=UTC"


def _with_utc(url: str, kwargs: dict) -> dict:
    """Add TimeZone=UTC to the session options, keeping any the URL already gives."""
    if "options" in kwargs:
        return kwargs
    try:
        given = conninfo_to_dict(url).get("options")
    except psycopg.ProgrammingError:
        given = None  # connect() reports the bad URL
    return {**kwargs, "options": f"{given} {_UTC}" if given else _UTC}


async def connect(url: str, **kwargs) -> psycopg.AsyncConnection:
    """An async connection, or DatabaseUnavailable with one clear line."""
    kwargs = _with_utc(url, kwargs)
    try:
        return await psycopg.AsyncConnection.connect(url, connect_timeout=10, **kwargs)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as e:
        raise DatabaseUnavailable(describe_connect_error(url, e)) from None


def connect_sync(url: str, **kwargs) -> psycopg.Connection:
    kwargs = _with_utc(url, kwargs)
    try:
        return psycopg.Connection.connect(url, connect_timeout=10, **kwargs)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as e:
        raise DatabaseUnavailable(describe_connect_error(url, e)) from None
