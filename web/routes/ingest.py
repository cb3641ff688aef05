"""``POST /api/ingest``: receivers that push their data over HTTP.

AIS-catcher's HTTP output (``-H http://mda:8080/api/ingest``, its JSON envelope with
``msgs``), a script posting JSON lines, or NMEA text: the body goes to a feed whose URI is
``http:`` (``[[sources]] uri = "http:"``, with the ``format`` its receivers send), as one
batch from the receiver the token names (records' source ``<feed>/<token owner>``). The
token is a receiver's (``mda token create --role receiver --owner NAME``): it may push and
read nothing. The decoding, its counts and rejections are the pipeline's, as for any feed.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request

from mda.ingest import PushSource
from mda.store import accounts
from mda.store.accounts import RECEIVER

from ..auth import Principal, authenticate
from ..deps import db_conn
from ..errors import WebError

__all__ = ["router", "body_lines"]

router = APIRouter()

# A push holds seconds of a receiver's traffic: kilobytes. Past this it is refused (413).
MAX_BODY = 4 * 2**20


async def receiver(request: Request, db=Depends(db_conn)) -> Principal:
    """The pushing receiver: a token with the receiver role (or an admin), in the
    ``Authorization: Bearer`` header or, for senders that cannot set a header (AIS-catcher
    posts to a URL, as to aprs.fi), as the last part of the path."""
    token = request.path_params.get("token")
    if token and not request.headers.get("authorization"):
        row = await accounts.token_by_hash(db, accounts.hash_token(token.strip()))
        if row is None:
            raise WebError(401, "unauthenticated", "the token is unknown, expired or revoked")
        await accounts.touch_token(db, row["id"])
        principal = Principal(row["principal"], row["role"], "token", token_id=row["id"])
    else:
        principal = await authenticate(request, db)
    if principal.role not in (RECEIVER, "admin"):
        raise WebError(
            403,
            "forbidden",
            f"pushing data needs a receiver's token (mda token create --role receiver "
            f"--owner NAME); {principal.name} is {principal.role}",
        )
    return principal


def body_lines(body: bytes) -> list[str]:
    """The lines of a pushed body: a JSON object (AIS-catcher's envelope included) is one
    line, a JSON array one line per element, anything else (JSON lines, NMEA) its lines."""
    text = body.decode("utf-8", "replace")
    if text.lstrip()[:1] in ("{", "["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None  # JSON lines, or junk: the feed's reader counts each line
        if isinstance(value, dict):
            return [json.dumps(value, separators=(",", ":"))]
        if isinstance(value, list):
            return [json.dumps(v, separators=(",", ":")) for v in value]
    return [line for line in text.splitlines() if line.strip()]


def _feed(request: Request, name: str | None) -> PushSource:
    feeds = getattr(request.app.state, "feeds", None) or {}
    pushed = {n: f for n, f in dict(feeds).items() if isinstance(f, PushSource)}
    if not pushed:
        raise WebError(
            503,
            "unavailable",
            'no feed takes pushed data: add [[sources]] uri = "http:" (with its format) '
            "to the settings",
        )
    if name is None:
        if len(pushed) > 1:
            raise WebError(400, "bad_request", f"say which feed: ?feed={' or '.join(pushed)}")
        return next(iter(pushed.values()))
    if name not in pushed:
        raise WebError(404, "not_found", f"no pushed feed {name!r}; feeds: {', '.join(pushed)}")
    return pushed[name]


@router.post("/api/ingest/{token}", status_code=202, include_in_schema=False)
@router.post("/api/ingest", status_code=202)
async def ingest(
    request: Request, feed: str | None = None, principal: Principal = Depends(receiver)
) -> dict:
    """Push AIS data (AIS-catcher's JSON, JSON lines, NMEA) into a feed with URI ``http:``;
    202 with the number of lines taken, 503 with ``Retry-After`` when the pipeline is
    behind."""
    target = _feed(request, feed)
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_BODY:
        raise WebError(413, "too_large", f"a push may hold at most {MAX_BODY // 2**20} MB")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise WebError(413, "too_large", f"a push may hold at most {MAX_BODY // 2**20} MB")
    lines = body_lines(body)
    if lines and not target.push(lines, principal.name):
        raise WebError(
            503, "unavailable", "the pipeline is behind; push again", headers={"Retry-After": "5"}
        )
    return {"feed": target.name, "lines": len(lines)}
