"""The exchange package's one error root."""

from __future__ import annotations

__all__ = ["ExchangeError"]


class ExchangeError(Exception):
    """Something mda hands out could not be made or sent as asked; ``message`` is one line
    for a person."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
