"""``mda config show``: the effective settings, secrets masked, and where each came from."""

from __future__ import annotations

from ..settings import SETTINGS


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
    for s in SETTINGS:
        print(f"{s.name} = {s.default!r}  [MDA_{s.name.upper()}]\n    {s.help}")
    return 0
