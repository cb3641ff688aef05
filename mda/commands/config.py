"""``mda config show``: the effective settings, secrets masked, and where each came from.
``mda config help``: every setting (top level, ``[analytics]``, ``[[sources]]``) with its
default, environment variable and help line, read from the settings dataclasses."""

from __future__ import annotations

import dataclasses

from ..settings import ANALYTICS_SETTINGS, PARTNER_FEED_SETTINGS, SETTINGS, SOURCE_SETTINGS


def register(sub) -> None:
    p = sub.add_parser("config", help="show the effective settings")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser("show", help="print the effective settings (secrets masked)")
    show.set_defaults(run=run_show)
    doc = csub.add_parser("help", help="list every setting with its default and help line")
    doc.set_defaults(run=run_help)


def run_show(args, settings) -> int:
    rows = settings.shown()
    width = max(len(n) for n, _, _ in rows)
    for name, value, origin in rows:
        print(f"{name:<{width}}  {value:<40}  ({origin})")
    return 0


def run_help(args, settings) -> int:
    for s in (*SETTINGS, *ANALYTICS_SETTINGS, *SOURCE_SETTINGS, *PARTNER_FEED_SETTINGS):
        default = "(required)" if s.default is dataclasses.MISSING else repr(s.default)
        where = f"[{s.env}]" if s.env else "[settings file only]"
        print(f"{s.name} = {default}  {where}\n    {s.help}")
    return 0
