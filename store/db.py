"""Connections: one place that opens them and turns psycopg's failures into StoreErrors."""

from __future__ import annotations

import re
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import DatabaseUnavailable

__all__ = ["connect", "connect_sync", "mask_dsn", "mask_credentials", "describe_connect_error"]


# Query and key=value parameters that carry a secret (libpq's password and sslpassword,
# and what other services put in URLs: tokens, keys, signatures).
_SECRET_PARAM = re.compile(
    r"(?i)^(?:.*pass(?:word|wd)?|.*secret|.*token|.*api[-_]?key|.*access[-_]?key|key|auth|authorization|sig|signature)$"
)
_DSN_SECRET = re.compile(r"(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)")


def mask_credentials(value: str) -> str:
    """``value`` with every credential in it masked (``***``), fit for messages, logs and
    ``mda config show``: a URL's password (``user:***@host``), a user-only credential
    outside PostgreSQL URLs (``https://***@host``: an API key in the user part), its
    secret query parameters (``password``, ``sslpassword``, ``token``, ``api-key`` ...),
    or a key=value DSN's ``password`` and ``sslpassword``. The rest of the URL is kept as
    written (``postgresql:///db``, several hosts). Text that is neither is returned as is."""
    if "://" in value:
        scheme, sep, rest = value.partition("://")
        end = len(rest)
        for ch in "/?#":
            i = rest.find(ch)
            if 0 <= i < end:
                end = i
        authority, tail = rest[:end], rest[end:]
        userinfo, at, hosts = authority.rpartition("@")
        if at and ":" in userinfo:
            authority = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
        elif at and userinfo and scheme.lower() not in ("postgresql", "postgres"):
            authority = f"***@{hosts}"  # a PostgreSQL URL's user is a role name, no secret
        path, q, after = tail.partition("?")
        if q:
            query, hashmark, fragment = after.partition("#")
            query = "&".join(
                (f"{k}=***" if _SECRET_PARAM.match(unquote(k)) else f"{k}{eq}{v}")
                for k, eq, v in (item.partition("=") for item in query.split("&"))
            )
            tail = f"{path}?{query}{hashmark}{fragment}"
        return f"{scheme}{sep}{authority}{tail}"
    if "=" in value:
        return _DSN_SECRET.sub(lambda m: m.group(1) + "***", value)
    return value


def mask_dsn(url: str) -> str:
    """The URL or DSN with any credential replaced, fit for messages and logs."""
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    return mask_credentials(url)


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
