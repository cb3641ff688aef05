"""Health, as an operator and Prometheus see it (issue 15, item 6), on a real `mda serve`
with a TCP feed of distress beacons on the test TimescaleDB:

- ``/metrics`` (prometheus-client, web/metrics.py) passes ``promtool check metrics``, with
  its histograms of database write latency and alert latency filled by the live service;
- ``/healthz`` says the process's role and whether it leads;
- ``mda status --url ... --token ...`` prints each process's role, leader or standby,
  feeds and their ages, queues, write latency and last alert, as those report them;
- every metric the Grafana dashboard (deploy/grafana/mda.json) uses is in a real scrape,
  and its PostgreSQL panel's query runs on the documented ``alerts`` table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql
from support import free_port, wait_until
from test_outage import BEACONS, _beacon_lines
from web_support import BASE, make_settings

from mda.web.app import create_app
from mda.web.metrics import Telemetry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "mda.json"


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("MDA_")}


class _Feed:
    """A TCP feed: sends its lines to each client that connects, then keeps it open."""

    def __init__(self, lines: list[str]):
        self.data = ("\n".join(lines) + "\n").encode()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.clients.append(conn)
            conn.sendall(self.data)

    def close(self) -> None:
        self.sock.close()
        for c in self.clients:
            c.close()


def _samples(text: str) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def _value(samples: dict, name: str) -> float:
    [(_, v)] = samples[name]
    return v


@pytest.fixture(scope="module")
def served(timescale_server, tmp_path_factory):
    """`mda serve` in its own process on a fresh database, fed beacons over TCP until it
    has stored them and raised their alerts; with a viewer token."""
    tmp = tmp_path_factory.mktemp("health")
    name = f"mda_test_health_{uuid.uuid4().hex[:12]}"
    admin = timescale_server
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = admin.rsplit("/", 1)[0] + "/" + name
    now = int(time.time())
    feed = _Feed([line for t in range(now - 120, now - 60, 10) for line in _beacon_lines(t)])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp / "serve.log").open("w")
    env = {**_env(), "MDA_MAX_CLOCK_LEAD_S": "0", "MDA_BATCH_MAX_DELAY_S": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mda", "serve", "--database", db, "--port", str(port)]
        + ["--data-dir", str(tmp / "data"), "--source", f"tcp://127.0.0.1:{feed.port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"mda serve exited: {(tmp / 'serve.log').read_text()[-2000:]}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 90, "mda serve to answer /healthz")
        r = subprocess.run(
            [sys.executable, "-m", "mda", "token", "--database", db, "create"]
            + ["--role", "viewer", "--owner", "prometheus"],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        token = r.stdout.strip()

        def scrape() -> str:
            resp = httpx.get(
                f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert resp.status_code == 200, resp.text
            return resp.text

        def settled() -> bool:
            s = _samples(scrape())
            return (
                _value(s, "mda_pipeline_alerts_raised_total") >= len(BEACONS)
                and _value(s, "mda_store_write_duration_seconds_count") >= 1
                and all(v == 0 for _, v in s["mda_pipeline_queue_batches"])
            )

        wait_until(settled, 60, "the beacons stored and their alerts raised", every=0.5)
        yield type("Served", (), {"url": url, "db": db, "token": token, "scrape": scrape})
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        feed.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:  # fails in CI, skips elsewhere
        from conftest import _unavailable

        _unavailable("promtool", "not installed (Debian's prometheus: deploy/system-packages.sh)")
    return path


def _check(promtool: str, text: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )


def test_promtool_passes_the_metrics_of_a_running_service(served):
    promtool = _promtool()
    text = served.scrape()
    r = _check(promtool, text)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    s = _samples(text)
    # a real scrape: the histograms hold what the service measured
    writes = _value(s, "mda_store_write_duration_seconds_count")
    assert writes >= 1 and 0 < _value(s, "mda_store_write_duration_seconds_sum") < 10 * writes
    alerts = _value(s, "mda_alert_latency_seconds_count")
    assert alerts == _value(s, "mda_pipeline_alerts_raised_total") >= len(BEACONS)
    assert 0 < _value(s, "mda_alert_latency_seconds_sum") < 30 * alerts
    assert _value(s, "mda_pipeline_positions_stored_total") >= len(BEACONS)
    assert "# TYPE mda_store_write_duration_seconds histogram" in text
    assert "# TYPE mda_alert_latency_seconds histogram" in text
    # every counter ends in _total
    for m in re.finditer(r"^# TYPE (\S+) counter$", text, re.M):
        assert m.group(1).endswith("_total"), m.group(1)
    # and promtool does find what it should: a counter without the suffix fails
    bad = _check(promtool, text.replace("mda_pipeline_lines_total", "mda_pipeline_lines"))
    assert bad.returncode != 0
    assert (
        'mda_pipeline_lines counter metrics should have "_total" suffix' in bad.stdout + bad.stderr
    )


def test_healthz_says_the_role_and_whether_it_leads(served):
    h = httpx.get(f"{served.url}/healthz", timeout=10).json()
    assert h["status"] == "ok" and h["database"] == "ok"
    assert h["role"] == "all" and h["leader"] is True  # one process doing everything
    s = _samples(served.scrape())
    [(labels, one)] = s["mda_service_info"]
    assert labels["role"] == "all" and labels["version"] and one == 1
    assert _value(s, "mda_service_leader") == 1


async def test_a_standby_says_so_and_each_service_has_its_own_histograms(migrated, tmp_path):
    """What the roles put in status() reaches /healthz and /metrics; two apps in one
    process never share a histogram (nothing in prometheus-client's global registry)."""
    state = {"role": "core", "leader": False, "feeds": [], "lag": {}}
    one, two = Telemetry(), Telemetry()
    one.write_seconds.observe(0.02)
    one.write_seconds.observe(0.3)
    apps = [
        create_app(make_settings(tmp_path), migrated, status=lambda: state, telemetry=one),
        create_app(make_settings(tmp_path), migrated, telemetry=two),
    ]
    async with await psycopg.AsyncConnection.connect(migrated) as c:
        from mda.store.accounts import create_token

        h = {"Authorization": f"Bearer {await create_token(c, 'ops', 'viewer')}"}
    texts, healths = [], []
    for app in apps:
        async with (
            LifespanManager(app) as m,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client,
        ):
            healths.append((await client.get("/healthz")).json())
            texts.append((await client.get("/metrics", headers=h)).text)
    assert healths[0]["role"] == "core" and healths[0]["leader"] is False
    assert healths[1]["role"] == "all" and healths[1]["leader"] is True
    a, b = _samples(texts[0]), _samples(texts[1])
    assert a["mda_service_info"][0][0]["role"] == "core" and _value(a, "mda_service_leader") == 0
    assert _value(b, "mda_service_leader") == 1
    assert _value(a, "mda_store_write_duration_seconds_count") == 2
    assert _value(a, "mda_store_write_duration_seconds_sum") == pytest.approx(0.32)
    buckets = {lab["le"]: v for lab, v in a["mda_store_write_duration_seconds_bucket"]}
    assert buckets["0.025"] == 1 and buckets["0.5"] == 2
    assert _value(b, "mda_store_write_duration_seconds_count") == 0


def _status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mda", "status", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


def test_mda_status_prints_each_process_as_healthz_and_metrics_report_it(served):
    dead = f"http://127.0.0.1:{free_port()}"
    r = _status(
        "--database", served.db, "--url", served.url, "--url", dead, "--token", served.token
    )
    out = r.stdout
    assert "Traceback" not in r.stderr
    assert r.returncode == 1, out + r.stderr  # a process asked for by name does not answer
    s = _samples(served.scrape())
    lines = out.splitlines()
    assert "Processes (their /healthz and /metrics): 2" in lines
    head = next(ln for ln in lines if ln.strip().startswith(served.url))
    assert head.strip() == f"{served.url}: role all, leader, ok, database ok"
    assert any(ln.strip().startswith(f"{dead}: no answer (") for ln in lines), out
    # the feed, its state and the age of its last message
    [(feed_labels, _)] = s["mda_feed_up"]
    row = next(ln.split() for ln in lines if ln.split()[:1] == [feed_labels["feed"]])
    assert row[1] == feed_labels["state"] == "running"
    assert row[2:4] in (["none", "yet"],) or (row[3] in ("ms", "s", "min") and row[4] == "ago")
    lines_read = _value(s, "mda_feed_lines_total")
    assert row[-1] == f"{lines_read:,.0f}"
    # queues, latencies and the last alert as /metrics says them
    queues = next(ln.strip() for ln in lines if ln.strip().startswith("queues:"))
    assert re.match(r"queues: store 0 batches, \d+ ms behind; analytics 0 batches", queues), queues
    writes = _value(s, "mda_store_write_duration_seconds_count")
    batches = "batch" if writes == 1 else "batches"
    assert re.search(
        rf"write latency: {writes:,.0f} {batches}, mean \d+ ms, p50 \d+ ms, p95 \d+ ms", out
    ), out
    alerts = _value(s, "mda_alert_latency_seconds_count")
    assert re.search(rf"alert latency: {alerts:,.0f} alerts, mean [0-9.]+ m?s, p50 ", out), out
    # the order an operator reads: when, the processes, then the desk
    assert out.index("mda status at ") < out.index("Processes") < out.index("Desk alerts")
    last = next(ln.strip() for ln in lines if ln.strip().startswith("last alert:"))
    raised = _value(s, "mda_pipeline_alerts_raised_total")
    assert last.endswith(f"ago ({raised:,.0f} raised since it started)"), last
    stamp = time.strftime(
        "%Y-%m-%d %H:%M", time.gmtime(_value(s, "mda_alert_last_timestamp_seconds"))
    )
    assert f"last alert: {stamp}" in last
    # the database part is still there
    assert f"Desk alerts not closed: {len(BEACONS)} ({len(BEACONS)} unacknowledged)" in out


def test_mda_status_without_a_token_reads_healthz_only(served, capsys, monkeypatch, tmp_path):
    from mda.cli import main

    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MDA_TOKEN", raising=False)
    assert main(["status", "--database", served.db, "--url", served.url]) == 0
    out = capsys.readouterr().out
    assert f"{served.url}: role all, leader, ok, database ok" in out
    assert "metrics not read: give a viewer token with --token or $MDA_TOKEN" in out
    assert "write latency" not in out
    monkeypatch.setenv("MDA_TOKEN", "mda_wrong")
    assert main(["status", "--database", served.db, "--url", served.url]) == 0
    assert "metrics refused (401): the token must be a viewer's" in capsys.readouterr().out
    monkeypatch.setenv("MDA_TOKEN", served.token)  # the token from the environment
    assert main(["status", "--database", served.db, "--url", served.url]) == 0
    assert "write latency: " in capsys.readouterr().out


def test_the_grafana_dashboard_uses_metrics_a_service_exports(served):
    dashboard = json.loads(DASHBOARD.read_text())
    text = served.scrape()
    # the series in the scrape, and the metrics it declares (# TYPE) that have none now
    # (nothing acknowledged, closed or noticed yet on this service)
    exported = set(_samples(text)) | set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    exprs, queries = [], []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            if "expr" in target:
                exprs.append(target["expr"])
            if "rawSql" in target:
                queries.append(target["rawSql"])
    for var in dashboard["templating"]["list"]:
        if isinstance(var.get("query"), dict):
            exprs.append(var["query"]["query"])
    used = {m for e in exprs for m in re.findall(r"\bmda_[a-z0-9_]+", e)}
    assert len(used) >= 15, used
    missing = sorted(used - exported)
    assert not missing, f"used by deploy/grafana/mda.json, not in /metrics: {missing}"
    # what the issue asks for: ingest rate, lag, write latency quantiles, alert latency,
    # alerts raised, feeds
    joined = "\n".join(exprs)
    for needle in (
        "rate(mda_pipeline_lines_total",
        "mda_pipeline_lag_seconds",
        "histogram_quantile(0.95, sum by (le, instance) (rate(mda_store_write_duration_seconds_bucket",
        "mda_alert_latency_seconds_bucket",
        "mda_pipeline_alerts_raised_total",
        "mda_feed_last_message_age_seconds",
    ):
        assert needle in joined, needle
    # the PostgreSQL panel: alerts per kind per hour from the alerts table, run here with
    # Grafana's time filter spelled out
    [query] = queries
    with psycopg.connect(served.db) as conn:
        rows = conn.execute(
            query.replace("$__timeFilter(created_at)", "created_at > now() - interval '1 day'")
        ).fetchall()
    assert {kind for _, kind, _ in rows} == {"distress_beacon"}
    assert sum(n for *_, n in rows) == len(BEACONS)
    assert all(t.minute == 0 and t.second == 0 for t, *_ in rows)


# Only with a partner feed (mda serve --partner-feed, docs/partners.md) or a broker
# (mqtt_url) configured, which the service above has not.
CONFIGURED_ONLY = {
    "mda_pipeline_partner_events_rejected_total",
    "mda_pipeline_partner_alerts_stored_total",
    "mda_pipeline_partner_events_duplicate_total",
    "mda_pipeline_partner_events_waiting",
    "mda_pipeline_mqtt_connected",
    "mda_pipeline_mqtt_sent_total",
    "mda_pipeline_mqtt_notices_skipped_total",
}


def test_every_metric_the_docs_name_is_in_a_real_scrape(served):
    text = served.scrape()
    exported = set(_samples(text)) | set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    named: dict[str, str] = {}
    docs = [ROOT / "README.md", ROOT / "web" / "README.md", ROOT / "tests" / "README.md"]
    docs += sorted((ROOT / "docs").glob("*.md"))
    for doc in docs:
        # the paragraph on the names before prometheus-client names the old ones
        paragraphs = [p for p in doc.read_text().split("\n\n") if "Renamed when" not in p]
        for name in re.findall(
            r"`(mda_(?:service|pipeline|feed|stage|http|live|alerts?|notices|store)[a-z0-9_]*)",
            "\n\n".join(paragraphs),
        ):
            if not name.endswith("_"):  # a pattern: mda_pipeline_<counter>_total
                named.setdefault(name, doc.relative_to(ROOT).as_posix())
    assert len(named) >= 25, named
    missing = {n: where for n, where in named.items() if n not in exported | CONFIGURED_ONLY}
    assert not missing, f"named in the docs, not in /metrics: {missing}"
