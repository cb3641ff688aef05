"""The interface later stages implement to receive alert changes.

The analytics stays pure: ``Analyzer.process`` returns its changes and the shell hands each one
to every sink (the store, the live hub, the MQTT publisher). A sink must not block the loop:
it queues, batches or spools as it sees fit.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .alerts import AlertChange

__all__ = ["AlertSink"]


@runtime_checkable
class AlertSink(Protocol):
    async def publish(self, change: AlertChange) -> None:
        """Take one change (opened, updated or closed), in the order the analytics made it."""
        ...
