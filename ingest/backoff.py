"""The one backoff of the project: every reconnect and retry loop waits with it (the feeds
here, the store's writer, the alert stage, the MQTT publisher).

    backoff = Backoff(0.5, 30.0)
    while True:
        try:
            await connect()
        except OSError:
            await asyncio.sleep(backoff.next_delay())
            continue
        backoff.reset()
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff with equal jitter, capped.

    The step starts at ``initial`` and doubles with every ``next_delay()`` up to
    ``maximum``; each wait is drawn from the upper half of the current step, between
    ``step / 2`` and ``step``, so that clients cut off together do not all come back at the
    same instant, and no wait is longer than ``maximum``. ``reset()`` after a success starts
    again from ``initial``. ``rng`` (a function returning a float in [0, 1)) is for tests."""

    def __init__(
        self, initial: float, maximum: float, *, rng: Callable[[], float] = random.random
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff wants 0 < initial <= maximum, got {initial}, {maximum}")
        self.initial = initial
        self.maximum = maximum
        self.attempts = 0  # waits since the last reset
        self._rng = rng

    @property
    def step(self) -> float:
        """The longest the next wait can be."""
        return min(self.maximum, self.initial * 2.0 ** min(self.attempts, 64))

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt."""
        step = self.step
        self.attempts += 1
        return step / 2 + self._rng() * step / 2

    def reset(self) -> None:
        self.attempts = 0

    def __repr__(self) -> str:
        return f"Backoff({self.initial}, {self.maximum}, attempts={self.attempts})"
