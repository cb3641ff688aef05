"""The analytics' one error root. Callers catch ``AnalyticsError``; the shell turns it into
one line and an exit code. Third-party errors (json, shapely, OSError) are translated where
they enter, so a message always names the file and the problem."""

from __future__ import annotations

__all__ = ["AnalyticsError", "ZoneError", "ConfigError"]


class AnalyticsError(Exception):
    """Root of every error the analytics package raises on purpose."""


class ZoneError(AnalyticsError):
    """A zones file cannot be used: unreadable, not JSON, not the format, or a bad polygon.
    The message starts with the file's path."""


class ConfigError(AnalyticsError):
    """A threshold has a value no detector can work with (negative duration, unknown kind)."""
