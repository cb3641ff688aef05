"""Supervision: a stage that fails is logged with its cause and started again after a
back-off; the process and the other stages go on.

``Supervisor.run(name, factory)`` runs ``await factory()`` until it returns (the stage is
done) or is cancelled; an exception is logged with its traceback, counted, and the stage
is started again after ``Backoff(restart_initial, restart_max)`` (reset once a run has
lasted ``healthy_after`` seconds). ``stages`` holds each stage's ``StageStatus`` for
``/healthz``, ``/metrics`` and the map's status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from mda.ingest.backoff import Backoff
from mda.store.errors import DatabaseUnavailable

__all__ = ["Supervisor", "StageStatus"]

log = logging.getLogger(__name__)

# Failures that are the world's, not the code's: logged without a traceback.
_OUTAGES = (DatabaseUnavailable, psycopg.OperationalError, OSError)


@dataclass
class StageStatus:
    name: str
    state: str = "starting"  # running, restarting (waiting to start again), stopped
    restarts: int = 0
    last_error: str | None = None
    last_failure_at: float | None = None  # wall clock
    running_since: float | None = None  # wall clock

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "last_failure_at": self.last_failure_at,
            "running_since": self.running_since,
        }


class Supervisor:
    """Runs stages, each started again after it fails."""

    def __init__(
        self, *, restart_initial: float = 1.0, restart_max: float = 30.0, healthy_after=60.0
    ):
        self.restart_initial = restart_initial
        self.restart_max = max(restart_max, restart_initial)
        self.healthy_after = healthy_after
        self.stages: dict[str, StageStatus] = {}

    def status(self, name: str) -> StageStatus:
        st = self.stages.get(name)
        if st is None:
            st = self.stages[name] = StageStatus(name)
        return st

    def running(self, name: str) -> bool:
        st = self.stages.get(name)
        return st is not None and st.state == "running"

    def failing(self) -> list[str]:
        """Stages waiting to be started again."""
        return sorted(n for n, s in self.stages.items() if s.state == "restarting")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {n: s.as_dict() for n, s in sorted(self.stages.items())}

    async def run(
        self,
        name: str,
        factory: Callable[[], Awaitable[Any]],
        *,
        on_failure: Callable[[BaseException], Any] | None = None,
    ) -> None:
        """Run the stage until it returns; start it again after each failure."""
        st = self.status(name)
        backoff = Backoff(self.restart_initial, self.restart_max)
        loop = asyncio.get_running_loop()
        while True:
            st.state = "running"
            st.running_since = time.time()
            started = loop.time()
            try:
                await factory()
            except asyncio.CancelledError:
                st.state = "stopped"
                raise
            except Exception as e:
                if loop.time() - started >= self.healthy_after:
                    backoff.reset()  # it had worked for a while: start again soon
                delay = backoff.next_delay()
                st.state = "restarting"
                st.restarts += 1
                st.last_error = f"{type(e).__name__}: {e}"
                st.last_failure_at = time.time()
                st.running_since = None
                log.error(
                    "stage %s failed (%s); starting it again in %.1f s",
                    name,
                    st.last_error,
                    delay,
                    # a lost database or network is an outage, said in one line; anything
                    # else is a bug, and its traceback is what a maintainer needs
                    exc_info=None if isinstance(e, _OUTAGES) else e,
                )
                if on_failure is not None:
                    try:
                        on_failure(e)
                    except Exception:  # a hook's failure must not stop the supervision
                        log.exception("stage %s: failure hook failed", name)
                await asyncio.sleep(delay)
                continue
            st.state = "stopped"
            st.running_since = None
            return
