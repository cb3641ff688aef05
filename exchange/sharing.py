"""Sharing an alert's extract with partners: the signed extract is made now, kept as
``<keep_dir>/<sha256>.zip`` (the partner API serves exactly those bytes), audited as an
``extract.alert`` like any other extract, and the share logged with that audit row's id and
the ZIP's SHA-256 (``store.shares``), in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg

from mda.store import audit
from mda.store.partners import PartnerDisabled, get_partner
from mda.store.shares import share_alert

from . import extract

__all__ = ["share_with_extract", "keep_dir_of", "kept_extract"]


def keep_dir_of(data_path: Path | str) -> Path:
    """The folder of extracts kept for partners: ``<data_dir>/shared``."""
    return Path(data_path) / "shared"


def kept_extract(keep_dir: Path, sha256: str) -> Path:
    """Where the extract with this SHA-256 is kept for the partners it was shared with."""
    return Path(keep_dir) / f"{sha256}.zip"


async def share_with_extract(
    conn: psycopg.AsyncConnection,
    alert_id: int,
    partners: Sequence[str],
    options: extract.ExtractOptions,
    maker: extract.Maker,
    keep_dir: Path,
    *,
    actor: str,
    via: str,
    role: str | None = None,
    ip: str | None = None,
) -> list[dict]:
    """Make alert ``alert_id``'s extract, keep it and share both with ``partners``.
    The partners are checked before the (slow) extract is made; the store's errors
    (``PartnerNotFound``, ``PartnerDisabled``, ``InvalidShare``) and the extract's
    (``extract.AlertNotFound``, ``ExtractTooLarge``) go to the caller."""
    async with conn.transaction():
        for name in partners:
            partner = await get_partner(conn, name.strip())
            if partner["disabled"]:
                raise PartnerDisabled(f"partner {name!r} is disabled")
    keep_dir = Path(keep_dir)
    keep_dir.mkdir(parents=True, exist_ok=True)
    making = keep_dir / f".making-{uuid.uuid4().hex}.zip"
    try:
        made = await extract.alert_extract(conn, alert_id, options, maker, making)
    except BaseException:
        making.unlink(missing_ok=True)
        raise
    kept = kept_extract(keep_dir, made.sha256)
    made.path.replace(kept)
    try:
        async with conn.transaction():
            await audit.record(
                conn,
                actor=actor,
                role=role,
                via=via,
                action=f"extract.{made.kind}",
                target=made.target,
                ip=ip,
                details={**made.audit_details(), "shared_with": list(partners)},
            )
            cur = await conn.execute("SELECT lastval()")
            (extract_id,) = await cur.fetchone()
            return await share_alert(
                conn,
                alert_id,
                partners,
                extract_id=extract_id,
                extract_sha256=made.sha256,
                actor=actor,
                via=via,
                role=role,
                ip=ip,
            )
    except BaseException:
        kept.unlink(missing_ok=True)
        raise
