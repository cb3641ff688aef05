"""``mda status``: the operator's summary, read from the database and from the running
processes.

The database part works without the web server: it connects to the database the settings
name (or the embedded one, as every command does) and prints the desk alerts not closed
by kind and severity, the data-quality notices per source in the last 24 h, and each
rule's false-alarm share from the outcomes officers recorded over the last 30 days, with
the counts the share rests on. The figures are the ones ``/metrics`` reports: the same
queries in ``store.queries`` over the same windows.

The processes part asks each ``--url`` (default: the settings' ``http_host:http_port``)
for ``/healthz`` (role, leader or standby, database, failing stages) and, with a viewer
token (``--token`` or ``$MDA_TOKEN``), ``/metrics``: the feeds and the age of their last
message, the queues before the store and the analytics, the database write latency and
the alert latency (from the histograms), the last alert. Exit status 1 when a process
named with ``--url`` does not answer or reports an error.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from ..database import database_url
from ..errors import MdaError

__all__ = [
    "register",
    "run",
    "Summary",
    "gather",
    "format_summary",
    "Process",
    "ask",
    "format_processes",
]


def register(sub) -> None:
    p = sub.add_parser(
        "status",
        help="each process's role, leader or standby, feeds, queues, latencies and last "
        "alert (its /healthz and /metrics); open alerts, notices per source, each rule's "
        "false-alarm share (from the database)",
    )
    p.add_argument(
        "--database",
        metavar="URL",
        help="database URL (default: settings, else the embedded database)",
    )
    p.add_argument(
        "--url",
        action="append",
        metavar="URL",
        help="a running process's web address, e.g. http://core-1:8080 (repeat for each "
        "process; default: http_host and http_port of the settings)",
    )
    p.add_argument(
        "--token",
        metavar="TOKEN",
        help="a viewer token, to read /metrics (default: $MDA_TOKEN); without one only "
        "/healthz is read",
    )
    p.set_defaults(run=run)


@dataclass
class Summary:
    at: datetime
    alerts: list[tuple[str, str, str, int]]  # kind, severity, status, count
    notices: list[tuple[str, str, int, datetime]]  # source, kind, count, latest
    closures: list[tuple[str, str, int, int]]  # kind, outcome, ever, in the window
    notice_window: timedelta
    closure_window: timedelta


async def gather(url: str) -> Summary:
    from mda.store import queries as q
    from mda.store.db import connect

    conn = await connect(url)
    try:
        return Summary(
            at=datetime.now(UTC),
            alerts=await q.alerts_not_closed(conn),
            notices=await q.notice_counts(conn),
            closures=await q.closure_counts(conn),
            notice_window=q.NOTICE_WINDOW,
            closure_window=q.CLOSURE_WINDOW,
        )
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        # A database this version has not migrated yet: say what to do, not a traceback.
        raise MdaError(
            "the database schema is older than this mda; run `mda db upgrade` first"
        ) from None
    finally:
        await conn.close()


def _utc(t: datetime | None) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ") if t else "-"


def _table(header: list[str], rows: list[list], left: int = 1) -> list[str]:
    """Rows as aligned text: the first ``left`` columns left-aligned, numbers right."""
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return [
        "  "
        + "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()
        for r in cells
    ]


def format_summary(s: Summary) -> str:
    from mda.store.alerts import DESK_SEVERITIES, OUTCOMES
    from mda.store.queries import false_alarm_shares, window_text

    out = [f"mda status at {_utc(s.at)}", ""]

    by_kind: dict[str, dict[str, int]] = {}
    unacked: dict[str, int] = {}
    for kind, severity, status, n in s.alerts:
        row = by_kind.setdefault(kind, {})
        row[severity] = row.get(severity, 0) + n
        if status == "open":
            unacked[kind] = unacked.get(kind, 0) + n
    total = sum(n for *_, n in s.alerts)
    out.append(f"Desk alerts not closed: {total} ({sum(unacked.values())} unacknowledged)")
    if by_kind:
        out += _table(
            ["kind", *DESK_SEVERITIES, "total", "unacknowledged"],
            [
                [k, *(r.get(sev, 0) for sev in DESK_SEVERITIES), sum(r.values()), unacked.get(k, 0)]
                for k, r in sorted(by_kind.items())
            ],
        )
    out.append("")

    out.append(
        f"Data-quality notices, last {window_text(s.notice_window)} (event time): "
        f"{sum(n for _, _, n, _ in s.notices)}"
    )
    if s.notices:
        per_source: dict[str, int] = {}
        for src, _, n, _ in s.notices:
            per_source[src] = per_source.get(src, 0) + n
        # the busiest source first: that is the feed to look at
        rows = sorted(s.notices, key=lambda r: (-per_source[r[0]], r[0], -r[2], r[1]))
        out += _table(
            ["source", "kind", "count", "latest"],
            [[src, kind, n, _utc(latest)] for src, kind, n, latest in rows],
            left=2,
        )
    out.append("")

    shares = false_alarm_shares(s.closures)
    out.append(
        f"False alarms by rule, from closures of the last {window_text(s.closure_window)}: "
        f"{sum(n for _, n in shares.values())} closures with an outcome"
    )
    if shares:
        recent = {(k, oc): r for k, oc, _, r in s.closures}
        out += _table(
            ["rule", *OUTCOMES, "false-alarm share"],
            [
                [
                    k,
                    *(recent.get((k, oc), 0) for oc in OUTCOMES),
                    f"{100 * f / n:.0f}% ({f} of {n})",
                ]
                for k, (f, n) in shares.items()
            ],
        )
    return "\n".join(out)


def run(args, settings) -> int:
    with database_url(settings, args.database) as url:
        summary = asyncio.run(gather(url))
    urls = args.url or [_default_url(settings)]
    token = args.token or os.environ.get("MDA_TOKEN") or None
    processes = [ask(u, token) for u in urls]
    head, _, rest = format_summary(summary).partition("\n\n")
    print(head, format_processes(processes, at=time.time()), rest, sep="\n\n")
    # A process asked for by name that is away or in error fails the command (scripts);
    # no web server at the default address is not an error (the database part stands).
    failed = [p for p in processes if p.error or (p.health or {}).get("status") == "error"]
    return 1 if args.url and failed else 0


# ----------------------------------------------------------------------------- processes


@dataclass
class Process:
    """What one process said: its ``/healthz`` (``health``, with ``http_status``) and its
    ``/metrics`` as ``{sample name: [(labels, value)]}`` (``metrics``); ``error`` when it
    did not answer, ``metrics_note`` why the metrics are missing."""

    url: str
    error: str | None = None
    http_status: int | None = None
    health: dict | None = None
    metrics: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    metrics_note: str | None = None

    def value(self, name: str, **labels: str) -> float | None:
        for lab, v in self.metrics.get(name, ()):
            if all(lab.get(k) == x for k, x in labels.items()):
                return v
        return None

    def series(self, name: str) -> list[tuple[dict[str, str], float]]:
        return self.metrics.get(name, [])


def _default_url(settings) -> str:
    host = settings.http_host
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"  # listening everywhere: ask it here
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}"


def _get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Accept": "application/json, text/plain"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:  # an answer all the same (503, 401)
        return e.code, e.read()


def _why(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    return getattr(reason, "strerror", None) or str(reason) or type(reason).__name__


def ask(url: str, token: str | None) -> Process:
    """``/healthz`` and (with ``token``) ``/metrics`` of the process at ``url``."""
    from prometheus_client.parser import text_string_to_metric_families

    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise MdaError(f"--url {url}: give an http:// or https:// address")
    p = Process(url)
    try:
        p.http_status, body = _get(url + "/healthz")
        p.health = json.loads(body)
    except (OSError, ValueError) as e:
        p.error = f"no answer ({_why(e)})" if isinstance(e, OSError) else "not an mda /healthz"
        return p
    if not token:
        p.metrics_note = "not read: give a viewer token with --token or $MDA_TOKEN"
        return p
    try:
        code, body = _get(url + "/metrics", token)
    except OSError as e:
        p.metrics_note = f"no answer ({_why(e)})"
        return p
    if code != 200:
        p.metrics_note = (
            f"refused ({code}): the token must be a viewer's"
            if code
            in (
                401,
                403,
            )
            else f"answered {code}"
        )
        return p
    try:
        for fam in text_string_to_metric_families(body.decode()):
            for s in fam.samples:
                p.metrics.setdefault(s.name, []).append((dict(s.labels), s.value))
    except ValueError as e:
        p.metrics_note = f"unreadable ({e})"
    return p


def _secs(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1:
        return f"{v * 1000:.0f} ms"
    if v < 120:
        return f"{v:.1f} s"
    if v < 7200:
        return f"{v / 60:.0f} min"
    return f"{v / 3600:.1f} h"


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over cumulative (le, count) buckets: linear within
    the bucket the rank falls in; the highest finite bound when it falls past them."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * ((rank - below) / (count - below) if count > below else 1)
        lower, below = le, count
    return lower


def _histogram(p: Process, name: str, what: str) -> str:
    count = p.value(f"{name}_count")
    if count is None:
        return "not reported"
    if count == 0:
        return f"no {what} yet"
    total = p.value(f"{name}_sum") or 0.0
    buckets = [(float(lab["le"]), v) for lab, v in p.series(f"{name}_bucket") if "le" in lab]
    return (
        f"{count:,.0f} {what if count != 1 else what.removesuffix('es').removesuffix('s')}, "
        f"mean {_secs(total / count)}, "
        f"p50 {_secs(_quantile(0.5, buckets))}, p95 {_secs(_quantile(0.95, buckets))}"
    )


def _process_lines(p: Process, now: float) -> list[str]:
    if p.error:
        return [f"{p.url}: {p.error}"]
    h = p.health or {}
    state = h.get("status", "?")
    role = h.get("role", "all")
    # only cores take turns to lead; an ingest or web process is neither leader nor standby
    lead = ("leader, " if h.get("leader", True) else "standby, ") if role in ("all", "core") else ""
    head = f"{p.url}: role {role}, {lead}{state}, database {h.get('database', '?')}"
    if h.get("failing"):
        head += f", failing: {', '.join(h['failing'])}"
    out = [head]
    if p.metrics_note:
        return out + [f"  metrics {p.metrics_note}"]
    # the feeds: state, age of the last message, lines
    feeds: dict[str, dict] = {}
    for lab, _ in p.series("mda_feed_up"):
        feeds.setdefault(lab.get("feed", "?"), {})["state"] = lab.get("state", "?")
    for lab, v in p.series("mda_feed_last_message_age_seconds"):
        feeds.setdefault(lab.get("feed", "?"), {})["age"] = v
    for lab, v in p.series("mda_feed_lines_total"):
        feeds.setdefault(lab.get("feed", "?"), {})["lines"] = v
    if feeds:
        out += _table(
            ["feed", "state", "last message", "lines"],
            [
                [
                    name,
                    f.get("state", "?"),
                    f"{_secs(f['age'])} ago" if f.get("age") is not None else "none yet",
                    f"{f.get('lines', 0):,.0f}",
                ]
                for name, f in sorted(feeds.items())
            ],
            left=2,
        )
    else:
        out.append("  feeds: none")
    queues = []
    for stage in ("store", "analytics"):
        n = p.value("mda_pipeline_queue_batches", stage=stage)
        if n is not None:
            behind = p.value("mda_pipeline_lag_seconds", stage=stage)
            queues.append(f"{stage} {n:,.0f} batches, {_secs(behind)} behind")
    waiting = p.value("mda_pipeline_alerts_waiting")
    if waiting is not None:
        queues.append(f"alerts to store {waiting:,.0f}")
    spool = p.value("mda_pipeline_spool_pending_batches")
    if spool is not None:
        queues.append(f"spool {spool:,.0f} batches")
    held = p.value("mda_pipeline_ingest_batches_waiting")  # an ingest process's records
    if held is not None:
        core = p.value("mda_pipeline_ingest_core_seen")
        queues.append(f"records to send {held:,.0f} batches" + ("" if core else ", no core yet"))
    out.append("  queues: " + ("; ".join(queues) if queues else "none"))
    out.append("  write latency: " + _histogram(p, "mda_store_write_duration_seconds", "batches"))
    out.append("  alert latency: " + _histogram(p, "mda_alert_latency_seconds", "alerts"))
    last = p.value("mda_alert_last_timestamp_seconds")
    raised = p.value("mda_pipeline_alerts_raised_total")
    since = f" ({raised:,.0f} raised since it started)" if raised is not None else ""
    if last is None:
        out.append(f"  last alert: none since it started{since}")
    else:
        at = datetime.fromtimestamp(last, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        out.append(f"  last alert: {at}, {_secs(max(0.0, now - last))} ago{since}")
    return out


def format_processes(processes: list[Process], at: float) -> str:
    out = [f"Processes (their /healthz and /metrics): {len(processes)}"]
    for p in processes:
        lines = _process_lines(p, at)
        out.append("  " + lines[0])
        out += ["  " + line for line in lines[1:]]
    return "\n".join(out)
