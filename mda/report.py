"""Moved to ``web.report`` (the offline incident map is presentation). This re-export keeps
``mda analyze --map`` working until ``mda/commands/analyze.py`` imports from there."""

from web.report import *  # noqa: F401,F403
from web.report import __all__  # noqa: F401
