"""``mda serve``: ingest, analytics, store and web in one process."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from ..errors import SettingsError
from ..settings import PartnerFeedSpec, SourceSpec


def add_service_options(p) -> None:
    p.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="URI",
        help="feed to ingest (repeatable): tcp://host:port, udp://:port, "
        "mqtt://host:port/topic, a file, or '-'; adds to the settings' [[sources]]",
    )
    p.add_argument(
        "--zones",
        action="append",
        default=[],
        metavar="FILE",
        help="GeoJSON zones file added to the built-in zones (repeatable)",
    )
    p.add_argument(
        "--partner-feed",
        action="append",
        default=[],
        metavar="URL",
        help="a partner's alert feed to subscribe to (repeatable): "
        "mqtt://user:pass@host/mda/v1/partners/OURNAME/#?partner=NAME; adds to the "
        "settings' [[partner_feeds]]; its alerts show on the desk as the partner's",
    )
    p.add_argument("--host", help="address to listen on (default: settings http_host)")
    p.add_argument("--port", type=int, help="port to listen on (default: settings http_port)")
    p.add_argument(
        "--database", metavar="URL", help="database URL (default: settings, else embedded)"
    )
    p.add_argument("--data-dir", metavar="DIR", help="data directory (default: settings data_dir)")


def apply_service_options(args, settings):
    changes = {}
    if args.host:
        changes["http_host"] = args.host
    if args.port:
        changes["http_port"] = args.port
    if args.data_dir:
        changes["data_dir"] = args.data_dir
    if args.database:
        changes["database_url"] = args.database
    settings = settings.replace(**changes) if changes else settings
    extra = tuple(PartnerFeedSpec(u) for u in getattr(args, "partner_feed", None) or ())
    if extra:
        settings = dataclasses.replace(settings, partner_feeds=settings.partner_feeds + extra)
    return settings


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="run the service: feeds, analytics, store and the web map",
        description="Run the whole service in one process: the feeds given with "
        "--source or in the settings, the detectors, the database "
        "writer and the web map/API. With no database URL, the "
        "embedded PostgreSQL is started in the data directory.",
    )
    add_service_options(p)
    p.add_argument(
        "--role",
        choices=("all", "ingest", "core", "web"),
        help="what this process runs (default: settings role, all): all = everything in "
        "one process; or one role of several joined by the mqtt_url broker and the "
        "database: ingest = the feeds, decoded and published to the broker (any number); "
        "core = stores and analyses them, one leading and the others standing by to take "
        "over (PostgreSQL advisory lock); web = the map, the API and the WebSocket, live "
        "from the broker (any number)",
    )
    p.set_defaults(run=run)


def run(args, settings) -> int:
    from ..database import database_url
    from ..service import Service

    settings = apply_service_options(args, settings)
    if getattr(args, "role", None):
        settings = settings.replace(role=args.role)
    role = settings.role
    if role not in ("all", "ingest", "core", "web"):
        raise SettingsError(f"role: unknown {role!r}; one of all, ingest, core, web")
    if role != "all" and not (settings.mqtt_url and settings.database_url):
        raise SettingsError(
            f"role {role} needs mqtt_url and database_url: the broker and the database "
            "that join the roles"
        )
    sources = list(settings.sources) + [SourceSpec(u) for u in args.source]
    if sources and role in ("core", "web"):
        raise SettingsError(f"role {role} reads no feeds: give --source to an ingest process")

    async def ready(service) -> None:
        from mda.store.db import connect

        print(
            f"mda: serving on http://{settings.http_host}:{settings.http_port}/ "
            f"({len(sources)} feed{'s' if len(sources) != 1 else ''}"
            + (f", role {role})" if role != "all" else ")"),
            file=sys.stderr,
        )
        async with await connect(service.url) as conn:
            users = await (await conn.execute("SELECT count(*) FROM users")).fetchone()
        if not users[0]:
            print(
                "mda: nobody can log in yet: add a user with "
                "`mda user add NAME --role admin` (same settings/--data-dir)",
                file=sys.stderr,
            )

    with database_url(settings) as url:
        service = Service(settings, url, sources, zone_files=args.zones, on_ready=ready, role=role)
        try:
            asyncio.run(service.run())
        except (KeyboardInterrupt, asyncio.CancelledError):  # a second Ctrl-C: stop at once
            pass
    print("mda: stopped", file=sys.stderr)
    return 0
