"""Connections: one place that opens them and turns psycopg's failures into StoreErrors."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import DatabaseUnavailable

__all__ = ["connect", "connect_sync", "mask_dsn", "mask_credentials", "describe_connect_error"]


# Query and key=value parameters that carry a secret (libpq's password and sslpassword,
# and what other services put in URLs: tokens, keys, signatures).
_SECRET_PARAM = re.compile(
    r"(?i)^(?:.*pass(?:word|wd)?|.*secret|.*token|.*api_?key|key|auth|authorization|sig|signature)$"
)
_DSN_SECRET = re.compile(r"(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)")


def mask_credentials(value: str) -> str:
    """``value`` with every credential in it masked (``***``), fit for messages, logs and
    ``mda config show``: a URL's password (``user:***@host``) and its secret query
    parameters (``password``, ``sslpassword``, ``token``, ``api_key`` ...), or a key=value
    DSN's ``password`` and ``sslpassword``. Text that is neither is returned as it is."""
    if "://" in value:
        try:
            parts = urlsplit(value)
        except ValueError:
            return "<unparseable URL>"
        netloc = parts.netloc
        userinfo, at, host = netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
        query = "&".join(
            (f"{k}=***" if _SECRET_PARAM.match(unquote(k)) else f"{k}{eq}{v}")
            for k, eq, v in (item.partition("=") for item in parts.query.split("&") if item)
        )
        masked = urlunsplit(parts._replace(netloc=netloc, query=query))
        return masked + "#" if value.endswith("#") and not masked.endswith("#") else masked
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
