"""``mda db upgrade`` and ``mda db status``."""

from __future__ import annotations

from ..database import database_url


def register(sub) -> None:
    p = sub.add_parser("db", help="database schema: upgrade, status")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="apply missing migrations (idempotent)")
    up.set_defaults(run=run_upgrade)
    st = dsub.add_parser(
        "status",
        help="schema version, TimescaleDB features and why, what retention removes next",
    )
    st.set_defaults(run=run_status)
    for action in (up, st):
        action.add_argument(
            "--database",
            metavar="URL",
            help="database URL (default: settings, else the embedded database)",
        )


def run_upgrade(args, settings) -> int:
    from mda.store.db import connect_sync
    from mda.store.migrate import upgrade

    with database_url(settings, args.database) as url, connect_sync(url) as conn:
        applied, caps = upgrade(conn, retention_days=settings.retention_days)
    print("applied: " + (", ".join(applied) if applied else "nothing (schema is current)"))
    for line in caps.lines():
        print(line)
    return 0


def run_status(args, settings) -> int:
    from mda.store.db import connect_sync
    from mda.store.migrate import detect
    from mda.store.retention import preview

    with database_url(settings, args.database) as url, connect_sync(url) as conn:
        caps = detect(conn)
        lines = caps.lines()
        if caps.schema_version:
            # What the retention job removes next, and what it keeps.
            lines += preview(
                conn,
                caps,
                retention_days=settings.retention_days,
                raw_retention_days=settings.raw_retention_days,
            )
    for line in lines:
        print(line)
    return 0
