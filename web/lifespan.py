"""What runs while the app serves: the database pool, the live hub's task, the hourly
housekeeping, and the demo token.

The pool opens without waiting, so the page and ``/healthz`` come up (and say why) while
the database is still starting; each connection runs with ``TimeZone=UTC`` and is checked
when it is handed out (a connection that died in a database outage is replaced then, so
the first request after the database returns does not fail). A lifespan
cancelled instead of told to shut down (SIGTERM to ``mda demo`` while the web server is
still starting: the event loop ends and cancels what is left) still stops its tasks and
closes the pool, quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from mda.store import accounts, sessions
from mda.store.queries import configure_connection

from .live import LiveHub

__all__ = ["lifespan"]

log = logging.getLogger(__name__)


def lifespan(
    settings, db_url: str, hub: LiveHub, pool_max: int = 10
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: ``app.state.pool`` open while it serves."""

    @contextlib.asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            db_url,
            min_size=1,
            max_size=pool_max,
            open=False,
            configure=configure_connection,
            check=AsyncConnectionPool.check_connection,
            name="web",
            kwargs={"connect_timeout": 10},
        )
        app.state.pool = pool
        tasks: list[asyncio.Task] = []
        try:
            # Open without waiting: the map comes up (and /healthz says why) even while the
            # database is still starting.
            await pool.open(wait=False)
            tasks += [
                asyncio.create_task(hub.run(), name="live-hub"),
                asyncio.create_task(
                    _housekeeping(pool, settings.demo_token), name="web-housekeeping"
                ),
            ]
            if settings.demo_token:
                try:
                    async with pool.connection(timeout=30) as conn:
                        await accounts.ensure_demo_token(conn, settings.demo_token)
                except Exception as e:  # the app still serves password logins
                    log.error("could not install the demo token: %s", e)
        except asyncio.CancelledError:
            # Stopped while starting (SIGTERM to `mda demo` before its database answers:
            # the event loop ends and cancels us). Raising here would make Starlette report
            # a failed start-up with a traceback; instead finish the start-up and take the
            # cancellation again at the next await, the wait for shutdown, below.
            log.debug("web: stopped during start-up")
            task = asyncio.current_task()
            if task is not None:
                task.cancel()
        try:
            yield
        except asyncio.CancelledError:
            # Cancelled instead of told to shut down (the event loop is ending): shut down
            # in order all the same, and quietly; re-raising would only print uvicorn's
            # "Exception in 'lifespan' protocol" traceback on an otherwise clean exit.
            log.debug("web: lifespan cancelled; shutting down")
        finally:
            await _shutdown(tasks, pool)

    return run


async def _shutdown(tasks: list[asyncio.Task], pool) -> None:
    """Stop the app's tasks and close the pool; a cancellation meanwhile (a second stop)
    cuts it short without a traceback: the process is ending anyway."""
    for t in tasks:
        t.cancel()
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.warning("web: task %s had failed: %s", t.get_name(), t.exception())
        await pool.close()
    except asyncio.CancelledError:
        log.debug("web: shutdown cut short by a cancellation")


async def _housekeeping(pool, demo_token: str = "", interval: float = 3600.0) -> None:
    """Hourly: delete expired sessions; keep the demo token (which expires
    ``DEMO_TOKEN_TTL`` after it was last renewed) alive while the service runs."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with pool.connection(timeout=30) as conn:
                await sessions.delete_expired_sessions(conn)
                if demo_token:
                    await accounts.refresh_demo_token(conn, demo_token)
        except Exception as e:
            log.warning("session clean-up failed: %s", e)
