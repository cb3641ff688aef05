"""JSON built inside PostgreSQL, read back as the bytes the server sent.

The web's hot reads (vessels, tracks, alert lists) build their JSON with
``json_build_object``/``json_agg`` and return it as one text value; reading it as raw
UTF-8 bytes lets the web tier send it on without decoding and re-encoding tens of
thousands of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.adapt import Loader

__all__ = ["fetch_raw"]


class _BytesLoader(Loader):
    """text columns as the raw UTF-8 bytes the server sent: no decode, no re-encode."""

    def load(self, data) -> bytes:
        return bytes(data)


async def fetch_raw(
    conn: psycopg.AsyncConnection, sql: str, params: Sequence[Any] | dict = ()
) -> bytes:
    """The first column of the first row of a query returning text, as bytes."""
    cur = conn.cursor()
    cur.adapters.register_loader("text", _BytesLoader)
    await cur.execute(sql, params)
    row = await cur.fetchone()
    return row[0]
