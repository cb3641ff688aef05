"""``GET /metrics`` on ``prometheus-client``, and the HTTP request counters.

Nothing here lives in prometheus-client's global registry: every scrape builds its own
``CollectorRegistry`` from

- ``MdaCollector``: a custom collector that reads the service's ``status()`` (and the HTTP
  counters, the live hub's and the server's counts) when it is collected, i.e. at scrape
  time, plus the desk's figures the route read from the database for this scrape;
- ``Telemetry``: the histograms one service owns (database write latency, alert latency),
  in a registry of its own, so several services in one process (the tests) never share
  or clash.

Counters end in ``_total``, as Prometheus wants (``promtool check metrics`` passes;
tests/test_health.py runs it on a live service's scrape).

``HttpMetrics`` is a plain ASGI middleware (no per-request objects beyond a closure): it
counts requests by method, route template (``/api/vessels/{mmsi}``, never the raw path,
so the label set stays small) and status, and sums their durations.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from mda.store.queries import CLOSURE_WINDOW, NOTICE_WINDOW, false_alarm_shares, window_text

__all__ = [
    "CONTENT_TYPE",
    "DeskCounts",
    "HttpCounters",
    "HttpMetrics",
    "MdaCollector",
    "Telemetry",
    "exposition",
    "render",
]

# The text format generate_latest writes (names and labels need no escaping here).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")

# Seconds. A batch write is a COPY of up to batch_rows rows in one transaction; an alert
# goes from the sentence through the detectors and the alerts table to the sinks.
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ALERT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Telemetry:
    """The histograms of one service, in a registry of its own (never the global one):
    ``write_seconds`` (observed by ``store.writer.StoreWriter`` around each batch write)
    and ``alert_seconds`` (observed by the alert stage when it hands an alert to the
    sinks: seconds since the sentence it rests on arrived)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.write_seconds = Histogram(
            "mda_store_write_duration_seconds",
            "seconds to write one batch (positions, raw sentences, vessel state) to the "
            "database, in one transaction",
            buckets=WRITE_BUCKETS,
            registry=self.registry,
        )
        self.alert_seconds = Histogram(
            "mda_alert_latency_seconds",
            "seconds from the arrival of the last sentence an alert rests on to the alert "
            "being handed to the sinks (live map, MQTT)",
            buckets=ALERT_BUCKETS,
            registry=self.registry,
        )

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


@dataclass
class DeskCounts:
    """The desk's figures from the database for one scrape (``store.queries``):
    ``alerts`` (kind, status, n) of ``alerts_open_by_kind``, ``notices`` rows of
    ``notice_counts``, ``closures`` rows of ``closure_counts`` (over the windows those
    functions default to)."""

    alerts: Sequence[tuple[str, str, int]] = ()
    notices: Sequence[tuple] = ()
    closures: Sequence[tuple[str, str, int, int]] = ()


class HttpCounters:
    """Requests by (method, route, status) and seconds by (method, route)."""

    def __init__(self):
        self.counts: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)


class HttpMetrics:
    def __init__(self, app, counters: HttpCounters):
        self.app = app
        self.counts = counters.counts
        self.seconds = counters.seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                self.counts[
                    ("WS", scope["path"] if scope["path"] == "/api/live" else "other", 101)
                ] += 1
            return await self.app(scope, receive, send)
        status = 500
        t0 = time.perf_counter()

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or (
                "/static" if scope["path"].startswith("/static/") else "unmatched"
            )
            method = scope["method"]
            self.counts[(method, path, status)] += 1
            self.seconds[(method, path)] += time.perf_counter() - t0


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
        return float(v)
    return None


# status() keys that are not pipeline counters: handled on their own below.
_OWN_KEYS = frozenset({"feeds", "stats", "stages", "lag", "role", "leader", "last_alert_at"})
# Pipeline values that go up and down; every other number is a counter.
_GAUGE_KEYS = frozenset({"spool_pending_batches", "alerts_waiting"})
_GAUGE_SUFFIXES = ("_s", "_age", "_connected", "_pending", "_waiting")


def _pipeline_name(key: str) -> str:
    """``mda_pipeline_<key>``: ``_s`` spelled out as ``_seconds`` (Prometheus wants base
    units, not abbreviations); a counter's ``_total`` is added by its family."""
    name = "mda_pipeline_" + _NAME_OK.sub("_", key)
    if name.endswith("_s"):
        name += "econds"
    return name.removesuffix("_total")


def _counter(name: str, help_: str, labels: Sequence[str] = ()) -> CounterMetricFamily:
    # The family's name without _total; its samples get it (mda_x -> mda_x_total).
    return CounterMetricFamily(name.removesuffix("_total"), help_, labels=list(labels))


def _add(family: Metric, labels: Sequence[Any], value: Any) -> None:
    v = _num(value)
    if v is not None:
        family.add_metric([str(x) for x in labels], v)


class MdaCollector(Collector):
    """Everything ``/metrics`` says but the histograms, read when collected.

    ``status``: the service's ``status()`` (a callable; a dict is taken as it is); its
    failure leaves the pipeline's part out, the rest still answers. ``live`` and
    ``limits``: the live hub's and the HTTP server's counters by name (callables or
    dicts). ``desk``: this scrape's figures from the database."""

    def __init__(
        self,
        status: Callable[[], dict | None] | dict | None,
        *,
        http: HttpCounters | None = None,
        live: Callable[[], dict[str, Any]] | dict[str, Any] | None = None,
        live_clients: Callable[[], int] | int | None = None,
        limits: Callable[[], dict[str, int]] | dict[str, int] | None = None,
        desk: DeskCounts | None = None,
        version: str = "",
        on_error: Callable[[BaseException], None] | None = None,
    ):
        self._status = status
        self._http = http
        self._live = live
        self._live_clients = live_clients
        self._limits = limits
        self._desk = desk
        self._version = version
        self._on_error = on_error

    def describe(self) -> list:
        return []  # nothing fixed: the names depend on what status() holds

    def _read_status(self) -> dict:
        st = self._status
        if callable(st):
            try:
                st = st()
            except Exception as e:  # the metrics still answer without the pipeline's part
                if self._on_error:
                    self._on_error(e)
                st = None
        return st or {}

    def collect(self) -> Iterator[Metric]:
        status = self._read_status()
        yield from self._service(status)
        yield from self._pipeline(status)
        yield from self._feeds(status.get("feeds") or [])
        yield from self._stages(status.get("stages") or {})
        limits = self._limits() if callable(self._limits) else self._limits
        for key in sorted(limits or {}):
            yield _one(
                _counter(f"mda_http_{key}", f"HTTP server: {key.replace('_', ' ')}"), limits[key]
            )
        if self._desk is not None:
            yield from _desk(self._desk)
        if self._http is not None:
            yield from _http(self._http)
        clients = self._live_clients() if callable(self._live_clients) else self._live_clients
        if clients is not None:
            yield _one(
                GaugeMetricFamily("mda_live_clients", "browsers connected to /api/live"), clients
            )
        live = self._live() if callable(self._live) else self._live
        for key in sorted(live or {}):
            yield _one(_counter(f"mda_live_{key}", f"live hub: {key.replace('_', ' ')}"), live[key])

    def _service(self, status: dict) -> Iterator[Metric]:
        role = str(status.get("role") or "all")
        info = InfoMetricFamily(
            "mda_service", "the process: its role (ingest, core, web or all) and mda's version"
        )
        info.add_metric([], {"role": role, "version": self._version})
        yield info
        yield _one(
            GaugeMetricFamily(
                "mda_service_leader",
                "1 while this process leads (runs the store and the analytics), 0 on standby",
            ),
            bool(status.get("leader", True)),
        )
        last = GaugeMetricFamily(
            "mda_alert_last_timestamp_seconds",
            "when (Unix time) this process last handed a new alert to the sinks (absent: "
            "none since it started)",
        )
        _add(last, [], status.get("last_alert_at"))
        yield last

    def _pipeline(self, status: dict) -> Iterator[Metric]:
        # Every numeric entry of status() (top level, as Service.status() gives them, or
        # under "stats"), one series each; {reason: n} dicts become labelled counters.
        stats = {k: v for k, v in status.items() if k not in _OWN_KEYS}
        stats.update(status.get("stats") or {})
        for key in sorted(stats):
            value = stats[key]
            name = _pipeline_name(key)
            if isinstance(value, dict):
                fam = _counter(name, f"pipeline counter {key} by reason", ["reason"])
                for reason, n in sorted(value.items()):
                    _add(fam, [reason], n)
                yield fam
            elif _num(value) is not None:
                gauge = (
                    key in _GAUGE_KEYS or key.endswith(_GAUGE_SUFFIXES) or isinstance(value, bool)
                )
                help_ = f"pipeline {key.replace('_', ' ')}"
                fam = GaugeMetricFamily(name, help_) if gauge else _counter(name, help_)
                yield _one(fam, value)
        # How far behind the service is: {stage: {"seconds", "batches"}} (Pipeline.lag()).
        lag = status.get("lag") or {}
        seconds = GaugeMetricFamily(
            "mda_pipeline_lag_seconds",
            "seconds since the oldest batch a stage (store, analytics) has not finished was "
            "decoded: how far behind the feeds the service is",
            labels=["stage"],
        )
        batches = GaugeMetricFamily(
            "mda_pipeline_queue_batches",
            "decoded batches waiting in the queue before a stage (store, analytics)",
            labels=["stage"],
        )
        for stage, v in sorted(lag.items()):
            _add(seconds, [stage], v.get("seconds"))
            _add(batches, [stage], v.get("batches"))
        yield seconds
        yield batches

    def _feeds(self, feeds: list[dict]) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "mda_feed_last_message_age_seconds",
            "seconds since the feed's last message (absent: none yet)",
            labels=["feed"],
        )
        lines = _counter("mda_feed_lines", "lines read from the feed", ["feed"])
        up = GaugeMetricFamily(
            "mda_feed_up",
            "1 while the feed runs, with its state as a label",
            labels=["feed", "state"],
        )
        drops = _counter(
            "mda_feed_kernel_drops",
            "UDP feeds: datagrams the kernel dropped because the socket's receive buffer was "
            "full (RcvbufErrors of the feed's socket)",
            ["feed"],
        )
        restarts = _counter(
            "mda_feed_restarts", "times a network feed failed and was started again", ["feed"]
        )
        for f in feeds:
            name = f.get("name")
            _add(age, [name], f.get("last_message_age_s"))
            _add(lines, [name], f.get("lines"))
            _add(up, [name, f.get("state")], f.get("state") == "running")
            _add(drops, [name], f.get("kernel_drops"))
            _add(restarts, [name], f.get("restarts"))
        yield from (age, lines, up, drops, restarts)

    def _stages(self, stages: dict) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "mda_stage_up",
            "1 while the service's stage runs, 0 while it waits to be started again after a "
            "failure (or has stopped), with its state as a label",
            labels=["stage", "state"],
        )
        restarts = _counter(
            "mda_stage_restarts", "times the stage failed and was started again", ["stage"]
        )
        for name, st in sorted(stages.items()):
            _add(up, [name, st.get("state")], st.get("state") == "running")
            _add(restarts, [name], st.get("restarts"))
        yield up
        yield restarts


def _one(family: Metric, value: Any) -> Metric:
    _add(family, [], value)
    return family


def _desk(desk: DeskCounts) -> Iterator[Metric]:
    open_by_kind: dict[str, int] = defaultdict(int)
    ack_by_kind: dict[str, int] = defaultdict(int)
    for kind, st, n in desk.alerts:
        (open_by_kind if st == "open" else ack_by_kind)[kind] += n
    fam = GaugeMetricFamily(
        "mda_alerts_open",
        "desk alerts open (not yet acknowledged) by kind; notices (severity info) not counted",
        labels=["kind"],
    )
    for k, n in sorted(open_by_kind.items()):
        _add(fam, [k], n)
    yield fam
    fam = GaugeMetricFamily(
        "mda_alerts_acknowledged",
        "desk alerts acknowledged but not closed, by kind; notices not counted",
        labels=["kind"],
    )
    for k, n in sorted(ack_by_kind.items()):
        _add(fam, [k], n)
    yield fam
    # Alert quality. Notices (severity info) are data-quality facts, counted apart from
    # the desk's alerts: a feed that delivers garbled fixes shows up here, not as alarms.
    fam = GaugeMetricFamily(
        "mda_notices",
        f"data-quality notices (severity info) whose episode started in the last "
        f"{window_text(NOTICE_WINDOW)} of event time, by the source (receiver or feed) that "
        f"delivered the bad data and by kind",
        labels=["source", "kind"],
    )
    for src, kind, n, *_ in desk.notices:
        _add(fam, [src, kind], n)
    yield fam
    fam = _counter(
        "mda_alert_closures",
        "desk alerts (not notices) closed by an officer with an outcome (false_alarm, "
        "confirmed, no_action), by kind and outcome: every closure since outcomes were "
        "recorded, an episode closed again after it came back counting again",
        ["kind", "outcome"],
    )
    for kind, oc, ever, _ in desk.closures:
        _add(fam, [kind, oc], ever)
    yield fam
    fam = GaugeMetricFamily(
        "mda_alert_closures_recent",
        f"the same closures made in the last {window_text(CLOSURE_WINDOW)} (wall clock), by "
        f"kind and outcome: the counts mda_alert_false_alarm_ratio is based on",
        labels=["kind", "outcome"],
    )
    for kind, oc, _, recent in desk.closures:
        if recent:
            _add(fam, [kind, oc], recent)
    yield fam
    fam = GaugeMetricFamily(
        "mda_alert_false_alarm_ratio",
        f"per kind (rule), false_alarm closures divided by all closures with an outcome, "
        f"of desk alerts closed in the last {window_text(CLOSURE_WINDOW)} (wall clock); "
        f"absent for a kind with no such closure",
        labels=["kind"],
    )
    for kind, (f, n) in false_alarm_shares(desk.closures).items():
        _add(fam, [kind], round(f / n, 6))
    yield fam


def _http(http: HttpCounters) -> Iterator[Metric]:
    fam = _counter(
        "mda_http_requests",
        "HTTP requests by method, route and status",
        ["method", "route", "status"],
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for (m, r, s), n in sorted(http.counts.items()):
        _add(fam, [m, r, s], n)
        counts[(m, r)] += n
    yield fam
    # _sum: the total seconds spent answering (the metric /metrics always had), _count:
    # the requests they add up over.
    summary = SummaryMetricFamily(
        "mda_http_request_duration_seconds",
        "seconds spent answering HTTP requests, by method and route",
        labels=["method", "route"],
    )
    for (m, r), v in sorted(http.seconds.items()):
        summary.add_metric([m, r], count_value=counts.get((m, r), 0), sum_value=round(v, 6))
    yield summary


def exposition(*collectors: Collector) -> bytes:
    """The text exposition of the collectors, through a registry made for this call."""
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    return generate_latest(registry)


def render(
    *,
    status: dict | None,
    alerts: list[tuple[str, str, int]],
    http: HttpCounters | None,
    live: dict[str, Any],
    live_clients: int,
    notices: Sequence[tuple] = (),
    closures: Sequence[tuple[str, str, int, int]] = (),
    limits: dict[str, int] | None = None,
    telemetry: Telemetry | None = None,
) -> str:
    """The exposition text of the given figures: ``status`` (Service.status()'s shape),
    ``alerts``/``notices``/``closures`` (``store.queries`` rows), ``limits`` (the HTTP
    server's refusals by name), the live hub's counters, and ``telemetry``'s histograms."""
    collector = MdaCollector(
        status,
        http=http,
        live=live,
        live_clients=live_clients,
        limits=limits,
        desk=DeskCounts(alerts=alerts, notices=notices, closures=closures),
    )
    parts: list[Collector] = [collector]
    if telemetry is not None:
        parts.append(telemetry)
    return exposition(*parts).decode()
