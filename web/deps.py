"""The routes' dependencies: a pooled database connection, and the caller with a role.

``Depends(viewer)`` (or ``officer``, ``supervisor``) authenticates the request and refuses
(403) a principal below that role; FastAPI caches ``db_conn`` per request, so a route and
its role check share one connection.
"""

from __future__ import annotations

from fastapi import Depends, Request

from mda.store.accounts import check_role

from .auth import Principal, authenticate
from .errors import WebError

__all__ = ["db_conn", "require", "viewer", "officer", "supervisor"]


async def db_conn(request: Request):
    """One pooled connection per request (FastAPI caches it across the dependencies)."""
    async with request.app.state.pool.connection(timeout=10) as conn:
        yield conn


def require(role: str = "viewer"):
    """A dependency: the request's principal, who must hold ``role`` or higher."""
    check_role(role)

    async def dependency(request: Request, db=Depends(db_conn)) -> Principal:
        principal = await authenticate(request, db)
        if not principal.can(role):
            raise WebError(
                403,
                "forbidden",
                f"this needs the {role} role; {principal.name} is {principal.role}",
            )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


viewer = require("viewer")
officer = require("officer")
supervisor = require("supervisor")
