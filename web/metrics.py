"""Prometheus text exposition for ``GET /metrics``, and the HTTP request counters.

``HttpMetrics`` is a plain ASGI middleware (no per-request objects beyond a closure): it
counts requests by method, route template (``/api/vessels/{mmsi}``, never the raw path,
so the label set stays small) and status, and sums their durations.
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from mda.store.queries import CLOSURE_WINDOW, NOTICE_WINDOW, false_alarm_shares, window_text

__all__ = ["HttpCounters", "HttpMetrics", "render"]

_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")


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


def _esc(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(d: dict[str, Any]) -> str:
    if not d:
        return ""
    return "{" + ",".join(f'{k}="{_esc(v)}"' for k, v in d.items()) + "}"


def _num(v: Any) -> str | None:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
        return repr(float(v)) if isinstance(v, float) else str(v)
    return None


class _Out:
    def __init__(self):
        self.lines: list[str] = []
        self._declared: set[str] = set()

    def metric(
        self, name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, Any], Any]]
    ) -> None:
        if name not in self._declared:
            self.lines.append(f"# HELP {name} {help_}")
            self.lines.append(f"# TYPE {name} {kind}")
            self._declared.add(name)
        for labels, value in samples:
            text = _num(value)
            if text is not None:
                self.lines.append(f"{name}{_labels(labels)} {text}")


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
) -> str:
    """``notices``: ``store.queries.notice_counts`` rows; ``closures``: ``closure_counts``
    rows (both over the windows those functions default to); ``limits``: the HTTP
    server's refusals (connection caps, header and body limits) by name."""
    out = _Out()
    status = status or {}
    # Pipeline counters: every numeric entry of status() (top level, as Service.status()
    # gives them, or under "stats"), one series each; {reason: n} dicts become labels.
    stats = {k: v for k, v in status.items() if k not in ("feeds", "stats", "stages", "lag")}
    stats.update(status.get("stats") or {})
    for key in sorted(stats):
        value = stats[key]
        name = "mda_pipeline_" + _NAME_OK.sub("_", key)
        if isinstance(value, dict):
            out.metric(
                name,
                "counter",
                f"pipeline counter {key} by reason",
                (({"reason": k}, v) for k, v in sorted(value.items())),
            )
        elif _num(value) is not None:
            gauge = key.endswith(("_s", "_age", "_connected")) or isinstance(value, bool)
            out.metric(
                name,
                "gauge" if gauge else "counter",
                f"pipeline {key.replace('_', ' ')}",
                [({}, value)],
            )
    # How far behind the service is: {stage: {"seconds", "batches"}} (Pipeline.lag()).
    lag = status.get("lag") or {}
    out.metric(
        "mda_pipeline_lag_seconds",
        "gauge",
        "seconds since the oldest batch a stage (store, analytics) has not finished was "
        "decoded: how far behind the feeds the service is",
        (({"stage": k}, v.get("seconds")) for k, v in sorted(lag.items())),
    )
    out.metric(
        "mda_pipeline_queue_batches",
        "gauge",
        "decoded batches waiting in the queue before a stage (store, analytics)",
        (({"stage": k}, v.get("batches")) for k, v in sorted(lag.items())),
    )
    feeds = status.get("feeds") or []
    out.metric(
        "mda_feed_last_message_age_seconds",
        "gauge",
        "seconds since the feed's last message (absent: none yet)",
        (({"feed": f.get("name")}, f.get("last_message_age_s")) for f in feeds),
    )
    out.metric(
        "mda_feed_lines_total",
        "counter",
        "lines read from the feed",
        (({"feed": f.get("name")}, f.get("lines")) for f in feeds),
    )
    out.metric(
        "mda_feed_up",
        "gauge",
        "1 while the feed runs, with its state as a label",
        (
            (
                {"feed": f.get("name"), "state": f.get("state")},
                1 if f.get("state") == "running" else 0,
            )
            for f in feeds
        ),
    )
    out.metric(
        "mda_feed_kernel_drops_total",
        "counter",
        "UDP feeds: datagrams the kernel dropped because the socket's receive buffer was "
        "full (RcvbufErrors of the feed's socket)",
        (({"feed": f.get("name")}, f.get("kernel_drops")) for f in feeds),
    )
    out.metric(
        "mda_feed_restarts_total",
        "counter",
        "times a network feed failed and was started again",
        (({"feed": f.get("name")}, f.get("restarts")) for f in feeds),
    )
    stages = status.get("stages") or {}
    out.metric(
        "mda_stage_up",
        "gauge",
        "1 while the service's stage runs, 0 while it waits to be started again after a "
        "failure (or has stopped), with its state as a label",
        (
            ({"stage": name, "state": st.get("state")}, 1 if st.get("state") == "running" else 0)
            for name, st in sorted(stages.items())
        ),
    )
    out.metric(
        "mda_stage_restarts_total",
        "counter",
        "times the stage failed and was started again",
        (({"stage": name}, st.get("restarts")) for name, st in sorted(stages.items())),
    )
    for key in sorted(limits or {}):
        out.metric(
            f"mda_http_{key}_total",
            "counter",
            f"HTTP server: {key.replace('_', ' ')}",
            [({}, limits[key])],
        )
    open_by_kind: dict[str, int] = defaultdict(int)
    ack_by_kind: dict[str, int] = defaultdict(int)
    for kind, st, n in alerts:
        (open_by_kind if st == "open" else ack_by_kind)[kind] += n
    out.metric(
        "mda_alerts_open",
        "gauge",
        "desk alerts open (not yet acknowledged) by kind; notices (severity info) not counted",
        (({"kind": k}, n) for k, n in sorted(open_by_kind.items())),
    )
    out.metric(
        "mda_alerts_acknowledged",
        "gauge",
        "desk alerts acknowledged but not closed, by kind; notices not counted",
        (({"kind": k}, n) for k, n in sorted(ack_by_kind.items())),
    )
    # Alert quality. Notices (severity info) are data-quality facts, counted apart from
    # the desk's alerts: a feed that delivers garbled fixes shows up here, not as alarms.
    out.metric(
        "mda_notices",
        "gauge",
        f"data-quality notices (severity info) whose episode started in the last "
        f"{window_text(NOTICE_WINDOW)} of event time, by the source (receiver or feed) that "
        f"delivered the bad data and by kind",
        (({"source": src, "kind": kind}, n) for src, kind, n, *_ in notices),
    )
    out.metric(
        "mda_alert_closures_total",
        "counter",
        "desk alerts (not notices) closed by an officer with an outcome (false_alarm, "
        "confirmed, no_action), by kind and outcome: every closure since outcomes were "
        "recorded, an episode closed again after it came back counting again",
        (({"kind": kind, "outcome": oc}, ever) for kind, oc, ever, _ in closures),
    )
    out.metric(
        "mda_alert_closures_recent",
        "gauge",
        f"the same closures made in the last {window_text(CLOSURE_WINDOW)} (wall clock), by "
        f"kind and outcome: the counts mda_alert_false_alarm_ratio is based on",
        (({"kind": kind, "outcome": oc}, recent) for kind, oc, _, recent in closures if recent),
    )
    out.metric(
        "mda_alert_false_alarm_ratio",
        "gauge",
        f"per kind (rule), false_alarm closures divided by all closures with an outcome, "
        f"of desk alerts closed in the last {window_text(CLOSURE_WINDOW)} (wall clock); "
        f"absent for a kind with no such closure",
        (
            ({"kind": kind}, round(f / n, 6))
            for kind, (f, n) in false_alarm_shares(closures).items()
        ),
    )
    if http is not None:
        out.metric(
            "mda_http_requests_total",
            "counter",
            "HTTP requests by method, route and status",
            (
                ({"method": m, "route": r, "status": s}, n)
                for (m, r, s), n in sorted(http.counts.items())
            ),
        )
        out.metric(
            "mda_http_request_duration_seconds_sum",
            "counter",
            "total seconds spent answering, by method and route",
            (
                ({"method": m, "route": r}, round(v, 6))
                for (m, r), v in sorted(http.seconds.items())
            ),
        )
    out.metric("mda_live_clients", "gauge", "browsers connected to /api/live", [({}, live_clients)])
    for key in sorted(live):
        out.metric(
            f"mda_live_{key}_total",
            "counter",
            f"live hub: {key.replace('_', ' ')}",
            [({}, live[key])],
        )
    return "\n".join(out.lines) + "\n"
