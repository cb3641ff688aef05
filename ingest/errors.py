"""The one error root of the ingest package.

The decoder never raises for bad input (it counts a reason instead); these errors are
for callers that asked for something impossible, such as an unknown source URI or a
file that does not exist.
"""

from __future__ import annotations

__all__ = ["IngestError", "SourceError"]


class IngestError(Exception):
    """Root of every error the ingest package raises on purpose."""


class SourceError(IngestError):
    """A feed cannot be opened as asked: unknown URI scheme, missing file, bad address."""
