"""The service says when it falls behind its feeds, never silently: a store that cannot
keep up shows as ``mda_pipeline_lag_seconds`` and ``mda_pipeline_queue_batches`` in
``/metrics`` (the map's feed chips show the same lag, tests/test_web_browser.py), and the
gauge falls back to 0 once the store has caught up."""

from __future__ import annotations

import asyncio
import re

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from bench.feedgen import generate
from web_support import BASE, make_settings

from mda.pipeline import Pipeline
from mda.settings import SourceSpec, load_settings
from mda.store.accounts import create_token
from mda.store.writer import WriterStats
from mda.web.app import create_app

pytestmark = pytest.mark.integration


class _StuckWriter:
    """A store that takes nothing until released."""

    def __init__(self):
        self.stats = WriterStats()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.rows = 0

    async def write(self, positions, statics, raw) -> None:
        self.entered.set()
        await self.release.wait()
        self.rows += len(positions)


def _gauge(text: str, name: str, stage: str) -> float:
    m = re.search(rf'^{name}{{stage="{stage}"}} (\S+)$', text, re.M)
    assert m, f"{name}{{stage={stage}}} not in /metrics"
    return float(m.group(1))


async def test_a_store_that_falls_behind_shows_as_lag_in_the_metrics(migrated, tmp_path):
    feed = generate(3_000, vessels=40, seed=5)
    path = tmp_path / "feed.nmea"
    path.write_text("\n".join(feed.lines) + "\n")
    # small batches, written at once: only a stuck store makes records wait
    settings = load_settings(environ={"MDA_BATCH_ROWS": "200", "MDA_BATCH_MAX_DELAY_S": "0.05"})
    writer = _StuckWriter()
    pipe = Pipeline(settings, writer, [SourceSpec(str(path), "rx-file", keep=True)])
    status = lambda: {"feeds": [f.as_dict() for f in pipe.feeds.values()], "lag": pipe.lag()}  # noqa: E731
    assert pipe.lag()["store"] == {"seconds": 0.0, "batches": 0}
    app = create_app(make_settings(tmp_path), migrated, status=status)
    async with (
        LifespanManager(app) as m,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client,
    ):
        async with await psycopg.AsyncConnection.connect(migrated) as c:
            h = {"Authorization": f"Bearer {await create_token(c, 'ops', 'viewer')}"}
        runner = asyncio.create_task(pipe.run())
        await asyncio.wait_for(writer.entered.wait(), 30)
        await asyncio.sleep(1.5)
        text = (await client.get("/metrics", headers=h)).text
        assert "# TYPE mda_pipeline_lag_seconds gauge" in text
        behind = _gauge(text, "mda_pipeline_lag_seconds", "store")
        assert behind >= 1.5
        assert _gauge(text, "mda_pipeline_queue_batches", "store") >= 1  # decoded, waiting
        assert _gauge(text, "mda_pipeline_lag_seconds", "analytics") == 0  # none configured
        await asyncio.sleep(0.5)
        later = _gauge(
            (await client.get("/metrics", headers=h)).text, "mda_pipeline_lag_seconds", "store"
        )
        assert later >= behind + 0.4  # it grows while the store stays stuck

        writer.release.set()
        await asyncio.wait_for(runner, 60)
        assert writer.rows == feed.unique_positions  # everything stored in the end
        text = (await client.get("/metrics", headers=h)).text
        assert _gauge(text, "mda_pipeline_lag_seconds", "store") == 0
        assert _gauge(text, "mda_pipeline_queue_batches", "store") == 0
