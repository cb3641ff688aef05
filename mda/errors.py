"""The shell's error root. The CLI turns these (and the other packages' roots) into one line."""

__all__ = ["MdaError", "SettingsError"]


class MdaError(Exception):
    """An error a user can act on; its message is shown as it is, without a traceback."""


class SettingsError(MdaError):
    """A settings file or environment variable is wrong."""
