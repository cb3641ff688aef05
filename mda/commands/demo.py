"""``mda demo``: the embedded default, with a built-in Indian Ocean scenario.

Starts the embedded PostgreSQL (unless a database URL is set), plays the simulator's
scenario through the real pipeline over a local TCP feed at accelerated time, serves the
map and prints a one-click login link. ``--source`` runs the same on a real feed instead.

The demo keeps its files (embedded database, secret key, spools) in ``DATA_DIR/demo``, so
that its scenario data and its token never mix with what ``mda serve`` keeps in the data
directory; ``--data-dir DIR`` is used as given. The login link's token (``demo_token``,
else a random one) is a supervisor token that expires 24 hours after the demo last ran.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time

from ..settings import SourceSpec
from .serve import add_service_options, apply_service_options


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole system on a built-in scenario (embedded database)",
        description=__doc__.replace("``", ""),
    )
    add_service_options(p)
    p.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="scenario time runs this many times faster than real time (default 60)",
    )
    p.add_argument("--vessels", type=int, default=150, help="vessels in the scenario (default 150)")
    p.add_argument("--seed", type=int, default=1, help="scenario seed (default 1)")
    p.set_defaults(run=run)


def _scenario_segments(seed: int, vessels: int, start: float, zones_out):
    """One endless scenario, cut into 2-hour segments played one after the other (the
    same vessels sail on across the cuts); the first also writes the scenario's zones."""
    from mda.simulator.scenario import demo_segments

    segments = demo_segments(start=start, seed=seed, vessels=vessels, hours=2.0)

    def segment(i: int):
        part = segments(i)
        if i == 0:
            zones_out.write_text(json.dumps(part.zones))
        return part.lines

    return segment


DEMO_SUBDIR = "demo"


def demo_settings(args, settings):
    """The settings ``mda demo`` runs with: the command line applied, the data directory
    ``DATA_DIR/demo`` unless ``--data-dir`` names one, and a demo token (the setting, else
    a fresh random one) that the web app installs and keeps alive while it runs."""
    explicit = bool(getattr(args, "data_dir", None))
    settings = apply_service_options(args, settings)
    changes = {}
    if not explicit:
        changes["data_dir"] = str(settings.data_path / DEMO_SUBDIR)
    if not getattr(settings, "demo_token", ""):
        changes["demo_token"] = secrets.token_urlsafe(24)
    return settings.replace(**changes) if changes else settings


def run(args, settings) -> int:
    from ..database import database_url
    from ..service import Service

    settings = demo_settings(args, settings)
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    token = settings.demo_token

    async def ready(service) -> None:
        from mda.store.accounts import ensure_demo_token
        from mda.store.db import connect

        async with await connect(service.url) as conn:  # TimeZone=UTC (store.db)
            await ensure_demo_token(conn, token)
        print(
            f"\nmda demo: open http://{settings.http_host}:{settings.http_port}/?token={token}\n"
            f"          (Ctrl-C stops everything; data in {data})\n",
            file=sys.stderr,
            flush=True,
        )

    async def main(url: str) -> None:
        zone_files = list(args.zones)
        if args.source:
            service = Service(
                settings,
                url,
                [SourceSpec(u) for u in args.source],
                zone_files=zone_files,
                on_ready=ready,
            )
            await service.run()
            return
        from ..demo_feed import ScenarioServer

        zones_path = data / "demo-zones.geojson"
        segments = _scenario_segments(args.seed, args.vessels, time.time() - 3600, zones_path)
        first = segments(0)  # also writes the scenario's zones before the analytics start
        async with ScenarioServer(lambda i: first if i == 0 else segments(i), args.speed) as feed:
            if zones_path.exists():
                zone_files.append(str(zones_path))
            # Accelerated time runs ahead of the clock: the future-time check would reject
            # the scenario after a minute.
            service = Service(
                settings.replace(max_clock_lead_s=0),
                url,
                [SourceSpec(feed.uri, "demo")],
                zone_files=zone_files,
                on_ready=ready,
            )
            await service.run()

    with database_url(settings) as url:
        try:
            asyncio.run(main(url))
        except (KeyboardInterrupt, asyncio.CancelledError):  # a second Ctrl-C: stop at once
            pass
    print("mda demo: stopped", file=sys.stderr)
    return 0
