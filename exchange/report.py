"""The analyst's offline incident map: ``mda analyze FILE... --map REPORT.html``.

One self-contained HTML file that opens in a browser with no network (coast guard rooms are
air-gapped). folium builds the map through its public API; ``_offline`` then swaps folium's
CDN links for the vendored Leaflet (``web/static/vendor/leaflet``, inlined), numbers its
random element ids and puts in the text from the inputs, which never passes through folium's
templates. The land polygons (``web/static/basemap``) are inlined as GeoJSON. Popups and
tooltips are bound with a small element of our own because folium's use jQuery.

Layers: land (Natural Earth, clipped around the incidents; the 1:10m polygons from zoom 6),
zones, lanes, ports and anchorages (hidden at first), the evidence tracks and the alerts. A
legend box names the inputs with their SHA-256, the time span and the counts by kind.

The same input always gives byte-identical output: element ids are numbered in order of
appearance, and there is no generation time.

Colours follow the design's ux.md: severities map onto bridge priorities (critical, high -> alarm,
red, with a second ring so the alarm does not rest on colour alone; medium -> warning, amber;
low -> caution, grey-blue). The day palette of the watch console is used, as a report is
printed and pasted into briefings.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mda.analytics import KIND_TABLE

__all__ = [
    "InputFile",
    "TrackCollector",
    "build_report",
    "describe_file",
    "track_windows",
    "PAD_S",
    "THIN_S",
    "GAP_S",
]

PAD_S = 1800.0  # a track shows this much before an alert's start and after its end
THIN_S = 60  # tracks keep one fix per vessel per minute ...
JUMP_NM = 1.0  # ... plus one more in that minute when it is this far from the first (a jump)
GAP_S = 600.0  # no fix for longer than this: the track is drawn dashed across the gap
MAX_SOG_KN = 50.0  # faster between two fixes is a jump: not joined by a track line
MAX_STRANDS = 8  # separate tracks one MMSI may split into in one window
DETAIL_ZOOM = 6  # the 1:10m land polygons from this zoom on, as on the watch console
DETAIL_PAD_DEG = 6.0  # land kept around the incidents, 1:10m
OVERVIEW_PAD_DEG = 30.0  # and 1:50m
DEFAULT_BOX = (40.0, -10.0, 100.0, 25.0)  # lon/lat, when there is nothing to show

AREA_COLOR = "#0b6bcb"  # the box of an area extract
PRIORITY = {"critical": "alarm", "high": "alarm", "medium": "warning", "low": "caution"}
PRIORITY_RANK = {"alarm": 0, "warning": 1, "caution": 2}
PRIORITY_LABEL = {"alarm": "ALARM", "warning": "WARNING", "caution": "CAUTION"}
PRIORITY_COLOR = {"alarm": "#e8202a", "warning": "#f5b700", "caution": "#7489a3"}
PRIORITY_TEXT_COLOR = {"alarm": "#ffffff", "warning": "#1b1400", "caution": "#ffffff"}
KIND_TEXT = {k.kind: k.label for k in KIND_TABLE}  # the one table of kinds (analytics)
# The watch console's day theme (web/static/map.css) and its zone colours.
SEA, LAND = "#cfe3f1", "#e6dcc0"
TRACK = "#1f2933"
ZONE_STYLE = {
    "lane": {
        "color": "#9b4fc4",
        "fillColor": "#c16fe0",
        "fillOpacity": 0.12,
        "weight": 1.4,
        "dashArray": "6 4",
    },
    "restricted": {"color": "#e04848", "fillColor": "#ff5d5d", "fillOpacity": 0.10, "weight": 1.6},
    "protected": {"color": "#1f9d57", "fillColor": "#3ddc84", "fillOpacity": 0.10, "weight": 1.4},
    "port": {
        "color": "#2f7fd0",
        "fillColor": "#4aa3ff",
        "fillOpacity": 0.06,
        "weight": 1,
        "dashArray": "2 3",
    },
    "other": {"color": "#b23db2", "fillColor": "#d84dd8", "fillOpacity": 0.07, "weight": 1.4},
}
ZONE_GROUPS = (  # layer name, kinds, shown at first
    ("Zones (restricted, protected ...)", None, True),
    ("Lanes (TSS, IRTC)", {"lane"}, True),
    ("Ports and anchorages", {"port", "anchorage"}, False),
)
EARTH_NM = 3440.065


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class InputFile:
    """A file the report was made from, named in its legend."""

    name: str  # the file's name, without its folder: the same file gives the same report
    sha256: str
    size: int
    role: str = "log"  # "log" or "zones"


def describe_file(path: str | Path, role: str = "log") -> InputFile:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return InputFile(Path(path).name, h.hexdigest(), size, role)


# ------------------------------------------------------------------ tracks


def _vessels(alert) -> tuple[int, ...]:
    return tuple(m for m in (alert.mmsi, alert.other_mmsi) if m is not None)


def track_windows(alerts: Iterable, pad_s: float = PAD_S) -> dict[int, list[tuple[float, float]]]:
    """Per alerted MMSI (the vessel and the other one of an encounter or clash), the time
    windows whose positions make the evidence: each alert's start..end padded by ``pad_s``
    (to the end of the input while open), overlapping ones merged, in time order."""
    raw: dict[int, list[tuple[float, float]]] = {}
    for a in alerts:
        end = math.inf if a.end is None else a.end + pad_s
        for m in _vessels(a):
            raw.setdefault(m, []).append((a.start - pad_s, end))
    merged: dict[int, list[tuple[float, float]]] = {}
    for m, spans in sorted(raw.items()):
        out: list[list[float]] = []
        for t0, t1 in sorted(spans):
            if out and t0 <= out[-1][1]:
                out[-1][1] = max(out[-1][1], t1)
            else:
                out.append([t0, t1])
        merged[m] = [(a, b) for a, b in out]
    return merged


def _nm(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_NM * math.asin(min(1.0, math.sqrt(h)))


class TrackCollector:
    """Keeps the positions of the alerted vessels inside their evidence windows, thinned as
    they arrive (one fix per vessel per minute, plus one that jumped away from it), so memory
    stays bounded by the alerts, not by the log. Feed it a second pass over the input."""

    def __init__(self, alerts: Iterable, pad_s: float = PAD_S):
        self.windows = track_windows(alerts, pad_s)
        self._starts = {m: [w[0] for w in ws] for m, ws in self.windows.items()}
        self._fixes: dict[int, list[tuple[float, float, float]]] = {m: [] for m in self.windows}
        self._minute: dict[int, list] = {}  # mmsi -> [minute, lat, lon, kept in it]

    def add(self, ts: float, mmsi: int, lat: float, lon: float) -> None:
        starts = self._starts.get(mmsi)
        if starts is None:
            return
        i = bisect_right(starts, ts) - 1
        if i < 0 or ts > self.windows[mmsi][i][1]:
            return
        minute = int(ts // THIN_S)
        cur = self._minute.get(mmsi)
        if cur is None or cur[0] != minute:
            self._minute[mmsi] = [minute, lat, lon, 1]
        elif cur[3] < 2 and _nm(cur[1], cur[2], lat, lon) > JUMP_NM:
            cur[3] += 1
        else:
            return
        self._fixes[mmsi].append((ts, lat, lon))

    def add_positions(self, positions: Iterable) -> None:
        for p in positions:
            self.add(p.ts, p.mmsi, p.lat, p.lon)

    def tracks(self) -> dict[int, list[tuple[float, float, float]]]:
        """Per MMSI, its kept fixes ``(ts, lat, lon)`` in time order."""
        return {m: sorted(set(f)) for m, f in self._fixes.items()}


# ------------------------------------------------------------------ formatting


def _utc(ts: float | None, with_date: bool = True) -> str:
    if ts is None:
        return "open at the end of the input"
    d = datetime.fromtimestamp(ts, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%SZ" if with_date else "%H:%M:%SZ")


def _dm(v: float, pos: str, neg: str, width: int) -> str:
    h = pos if v >= 0 else neg
    v = abs(v)
    d = int(v)
    m = round((v - d) * 60, 3)
    if m >= 60:
        d, m = d + 1, 0.0
    return f"{d:0{width}d}\u00b0{m:06.3f}\u2032{h}"


def _latlon(lat: float, lon: float) -> str:
    return f"{_dm(lat, 'N', 'S', 2)} {_dm(lon, 'E', 'W', 3)}"


def _duration(s: float) -> str:
    m = int(round(s / 60))
    return f"{m} min" if m < 120 else f"{m // 60} h {m % 60:02d} min"


def _e(s: Any) -> str:
    return html.escape("" if s is None else str(s))


def _js(value: Any) -> str:
    """A JSON literal safe inside <script>: no ``</`` can close the element."""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--")
    )


def _round_coords(obj: Any, nd: int) -> Any:
    if isinstance(obj, float):
        return round(obj, nd)
    if isinstance(obj, (list, tuple)):
        return [_round_coords(x, nd) for x in obj]
    return obj


# ------------------------------------------------------------------ static assets


def _static(rel: str) -> bytes:
    # The map's vendored Leaflet and basemap ship once, with the web's static files.
    return resources.files("mda.web").joinpath("static", *rel.split("/")).read_bytes()


@lru_cache(maxsize=1)
def _leaflet() -> tuple[str, str, str]:
    """The vendored Leaflet: its script, its stylesheet with the images it uses inlined as
    data: URIs (a relative url() would be looked up next to the report and fail), and its
    licence."""
    js = _static("vendor/leaflet/leaflet.js").decode("utf-8")
    css = _static("vendor/leaflet/leaflet.css").decode("utf-8")

    def inline(m: re.Match) -> str:
        data = base64.b64encode(_static("vendor/leaflet/" + m.group(1))).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    licence = _static("vendor/leaflet/LICENSE").decode("utf-8")
    if "</script" in js.lower() or "</style" in css.lower():
        raise RuntimeError("vendored Leaflet cannot be inlined")
    return js, css, licence


def _land(name: str, box: tuple[float, float, float, float], nd: int) -> dict:
    """The basemap's land polygons clipped to a lon/lat box, coordinates rounded."""
    import shapely
    from shapely.geometry import mapping, shape

    fc = json.loads(_static(f"basemap/land-{name}.geojson"))
    features = []
    for f in fc["features"]:
        # clip_by_rect: made for drawing, fast, and tolerant of the few polygons that touch
        # themselves after simplification (intersection() raises on those).
        g = shapely.clip_by_rect(shape(f["geometry"]), *box)
        polys = [p for p in getattr(g, "geoms", [g]) if p.geom_type == "Polygon" and not p.is_empty]
        for p in polys:
            features.append(
                {"type": "Feature", "properties": {}, "geometry": _round_coords(mapping(p), nd)}
            )
    return {"type": "FeatureCollection", "features": features}


def _notices() -> str:
    parts = ["Leaflet 1.9.4, inlined below:\n\n" + _leaflet()[2]]
    for rel in ("basemap/NOTICE", "basemap/LICENSE-world-atlas"):
        parts.append(_static(rel).decode("utf-8"))
    text = "\n\n".join(p.strip() for p in parts)
    return "<!--\n" + text.replace("--", "- -") + "\n-->"


# ------------------------------------------------------------------ folium, and the page it renders
#
# folium builds the map (layers, lines, markers, the layer control, the fitted view) through
# its public API. Two things it cannot do are done on the rendered page by `_offline` below:
# it links Leaflet and its other defaults from CDNs, and it names elements with random ids.
# Text from the inputs (zone names, file names, alert details) never enters folium: branca
# parses each rendered macro again as a Jinja template, so a ``{{`` in a zone's name would be
# evaluated. The page carries a placeholder instead, and `_offline` puts the text in.


class _Texts:
    """Text from the inputs, kept out of folium: each value gets a placeholder (a JSON string
    literal with no template syntax), replaced by the value's own JSON literal at the end."""

    PLACEHOLDER = re.compile(r'"mda:text:(\d+)"')

    def __init__(self) -> None:
        self.values: list[Any] = []

    def token(self, value: Any) -> str:
        """The placeholder as a plain string (for data folium serialises itself)."""
        self.values.append(value)
        return f"mda:text:{len(self.values) - 1}"

    def literal(self, value: Any) -> str:
        """The placeholder as a JavaScript literal (for code we write)."""
        return f'"{self.token(value)}"'

    def value(self, token: str) -> Any:
        return self.values[int(token.rsplit(":", 1)[1])]

    def fill(self, page: str) -> str:
        return self.PLACEHOLDER.sub(lambda m: _js(self.values[int(m.group(1))]), page)


_REMOTE = re.compile(
    r'(?:<script src="(?:https?:)?//[^"]*"></script>'
    r'|<link rel="stylesheet" href="(?:https?:)?//[^"]*"/>)\n?[ \t]*'
)
_RANDOM_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")  # branca: name + "_" + uuid4().hex
_INLINE = "<!--mda:inline-assets-->"


def _offline(page: str, texts: _Texts, head: str) -> str:
    """folium's rendered page made self-contained and deterministic:

    - every ``<script src>`` and ``<link rel=stylesheet>`` to a CDN (Leaflet, jQuery,
      Bootstrap, Font Awesome: folium's defaults) is removed, and ``head`` (the vendored
      Leaflet, its images as data: URIs, our styles) is put where the first one was;
    - the random element ids are numbered in order of appearance, so the same input gives
      the same bytes;
    - the placeholders of ``texts`` are replaced by the texts, as JSON literals;
    - a Content-Security-Policy naming its inline scripts by hash is put first in its head.

    Raises RuntimeError if anything remote is left (a folium that links its assets another
    way), rather than writing a page that needs the network."""
    page = _REMOTE.sub(_INLINE, page, count=1)
    page = _REMOTE.sub("", page)
    if _INLINE not in page or re.search(r"""(?i)\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", page):
        raise RuntimeError("the folium page still links remote assets: cannot make it offline")
    ids: dict[str, str] = {}
    page = _RANDOM_ID.sub(lambda m: ids.setdefault(m.group(0), f"{len(ids) + 1:05d}"), page)
    page = texts.fill(page)
    # Last, and by position: the vendored Leaflet must not be searched for ids or
    # placeholders, and a str.replace would read backslashes in it.
    at = page.index(_INLINE)
    return _with_csp(page[:at] + head + page[at + len(_INLINE) :])


_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _with_csp(page: str) -> str:
    """The page with a Content-Security-Policy of its own (a ``<meta>`` first in its head):
    only its own inline scripts run, each named by its SHA-256; nothing is fetched; no
    form, frame, plugin or base URL. A text that escaped its escaping still could not
    run: an injected script or event handler is not among the hashes."""
    hashes = sorted(
        {
            "'sha256-"
            + base64.b64encode(hashlib.sha256(m.group(1).encode("utf-8")).digest()).decode()
            + "'"
            for m in _SCRIPT.finditer(page)
        }
    )
    if len(re.findall(r"(?i)<script", page)) != len(re.findall(r"<script>", page)):
        raise RuntimeError("the page has a script element the policy would not name")
    policy = (
        "default-src 'none'; script-src " + " ".join(hashes) + "; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; connect-src 'none'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-src 'none'"
    )
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    head = re.search(r"<head[^>]*>", page)
    if head is None:
        raise RuntimeError("the folium page has no <head>")
    return page[: head.end()] + "\n    " + meta + page[head.end() :]


def _elements(texts: _Texts):
    """Our two element classes (built on first use: folium is imported lazily). Their
    templates hold no text from the inputs: only placeholders (``texts``)."""
    from branca.element import MacroElement
    from jinja2 import Template

    class Bind(MacroElement):
        """``layer.bindPopup(html)`` / ``bindTooltip(text)``: folium's Popup needs jQuery.
        Leaflet puts either into the page as HTML: a popup's content is markup made by
        ``_popup`` (every text in it escaped), a tooltip's is text and is escaped here."""

        _template = Template("""{% macro script(this, kwargs) %}
    {{ this._parent.get_name() }}.{{ this.method }}({{ this.content }}, {{ this.options }});
{% endmacro %}""")

        def __init__(self, method: str, content: str, **options: Any):
            super().__init__()
            self._name = "Bind"
            self.method = method
            self.content = texts.literal(content if method == "bindPopup" else _e(content))
            self.options = _js(options)

    class Script(MacroElement):
        """A script run after its parent's. Upper-case words in it given as keywords are
        replaced in one pass (values are not searched again): an element by its variable
        name, a string as it is; ``MAP`` is the parent's variable."""

        _template = Template("""{% macro script(this, kwargs) %}
    {{ this.code }}
{% endmacro %}""")

        def __init__(self, code: str, **values: Any):
            super().__init__()
            self._name = "Script"
            self._code = code
            self._values = values

        @property
        def code(self) -> str:
            values = {k: v if isinstance(v, str) else v.get_name() for k, v in self._values.items()}
            values["MAP"] = self._parent.get_name()
            pattern = re.compile(r"\b(" + "|".join(sorted(values, key=len, reverse=True)) + r")\b")
            return pattern.sub(lambda m: values[m.group(1)], self._code)

    return Bind, Script


# ------------------------------------------------------------------ the page

CSS = """
html, body { background: %(sea)s; }
.leaflet-container { background: %(sea)s;
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
.mda-legend { background: rgba(255, 255, 255, .95); color: #14222e; padding: 10px 12px;
  border-radius: 6px; box-shadow: 0 2px 12px rgba(0, 0, 0, .25); width: 310px;
  max-height: calc(100vh - 110px); overflow-y: auto; font-size: 12px; }
.mda-legend h1 { font-size: 15px; margin: 0 0 2px; }
.mda-legend h2 { font-size: 11px; margin: 10px 0 3px; text-transform: uppercase;
  letter-spacing: .08em; color: #566b7c; }
.mda-legend table { border-collapse: collapse; width: 100%%; }
.mda-legend td { padding: 1px 4px 1px 0; vertical-align: middle; }
.mda-legend td:first-child { width: 22px; }
.mda-legend td.n { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
.mda-legend .sub { color: #566b7c; }
.mda-legend .hash { font: 10px/1.3 ui-monospace, "DejaVu Sans Mono", Menlo, monospace;
  word-break: break-all; color: #3b4a57; }
.mda-legend .foot { margin-top: 10px; color: #566b7c; font-size: 11px; }
.mda-legend .files li { margin-bottom: 4px; }
.mda-legend ul { margin: 0; padding-left: 0; list-style: none; }
.mda-dot { display: inline-block; width: 12px; height: 12px; border-radius: 50%%;
  border: 1.5px solid #1a1a1a; vertical-align: middle; }
.mda-dot.ring { box-shadow: 0 0 0 2px #fff, 0 0 0 4px %(alarm)s; margin: 0 3px; }
.mda-line { display: inline-block; width: 26px; border-top: 2.5px solid %(track)s;
  vertical-align: middle; }
.mda-line.gap { border-top-style: dashed; }
.mda-area { display: inline-block; width: 20px; height: 11px; vertical-align: middle;
  border: 1.5px solid; }
.mda-pop { font-size: 12.5px; min-width: 250px; }
.mda-pop .head { display: flex; align-items: baseline; gap: 6px; margin-bottom: 4px; }
.mda-pop .kind { font-weight: 700; font-size: 14px; }
.mda-pop code { color: #566b7c; font-size: 11px; }
.mda-pop table { border-collapse: collapse; }
.mda-pop th { text-align: left; font-weight: 400; color: #566b7c; padding: 1px 8px 1px 0;
  vertical-align: top; white-space: nowrap; }
.mda-pop td { padding: 1px 0; font-variant-numeric: tabular-nums; }
.mda-pop .text { margin: 6px 0 0; max-width: 330px; }
.mda-prio { font-size: 10px; font-weight: 700; letter-spacing: .08em; padding: 1px 5px;
  border-radius: 3px; }
.leaflet-tooltip.mda-time { padding: 0 3px; font-size: 10px; line-height: 14px;
  background: rgba(255, 255, 255, .85); border: 0; box-shadow: none; color: #1f2933; }
.leaflet-tooltip.mda-time::before { display: none; }
.leaflet-control-layers { font-size: 12px; }
.leaflet-control-attribution { font-size: 10px; }
@media print { .mda-legend { max-height: none; box-shadow: none; border: 1px solid #999; } }
"""


def _prio_badge(prio: str) -> str:
    return (
        f'<span class="mda-prio" style="background:{PRIORITY_COLOR[prio]};'
        f'color:{PRIORITY_TEXT_COLOR[prio]}">{PRIORITY_LABEL[prio]}</span>'
    )


def _popup(a) -> str:
    prio = PRIORITY.get(a.severity, "caution")
    rows = [("Vessel", f"MMSI {a.mmsi}")]
    if a.other_mmsi is not None:
        rows.append(("Other vessel", f"MMSI {a.other_mmsi}"))
    if a.zone:
        rows.append(("Zone", a.zone))
    rows.append(("Start", _utc(a.start)))
    rows.append(("End", _utc(a.end)))
    if a.end is not None:
        rows.append(("Duration", _duration(a.end - a.start)))
    rows.append(("Position", _latlon(a.lat, a.lon)))
    text = (a.details or {}).get("text", "")
    return (
        f'<div class="mda-pop"><div class="head">{_prio_badge(prio)}'
        f'<span class="kind">{_e(KIND_TEXT.get(a.kind, a.kind))}</span>'
        f"<code>{_e(a.kind)} \u00b7 {_e(a.severity)}</code></div><table>"
        + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
        + f'</table><p class="text">{_e(text)}</p></div>'
    )


def _legend(
    alerts: Sequence,
    inputs: Sequence[InputFile],
    span,
    zones_count: int,
    version: str,
    *,
    title: str = "Incident map",
    generator: str = "mda analyze",
    track_note: str | None = None,
    area: bool = False,
) -> str:
    out = [f'<div class="mda-legend"><h1>{_e(title)}</h1>']
    if span and span[0] is not None:
        t0, t1 = span
        same_day = _utc(t0)[:10] == _utc(t1)[:10]
        out.append(
            f"<div>{_e(_utc(t0))} \u2013 {_e(_utc(t1, with_date=not same_day))}"
            f' <span class="sub">({_e(_duration(t1 - t0))}, UTC)</span></div>'
        )
    else:
        out.append('<div class="sub">no positions in the input</div>')
    by_kind: dict[str, list] = {}
    for a in alerts:
        by_kind.setdefault(a.kind, []).append(a)
    out.append(f"<h2>Alerts: {len(alerts)}</h2>")
    if by_kind:
        out.append("<table>")
        for kind, items in sorted(
            by_kind.items(),
            key=lambda kv: (
                min(PRIORITY_RANK[PRIORITY.get(a.severity, "caution")] for a in kv[1]),
                kv[0],
            ),
        ):
            prio = min(
                (PRIORITY.get(a.severity, "caution") for a in items), key=PRIORITY_RANK.__getitem__
            )
            out.append(
                f'<tr><td><span class="mda-dot" style="background:{PRIORITY_COLOR[prio]}">'
                f"</span></td><td>{_e(KIND_TEXT.get(kind, kind))}</td>"
                f'<td class="n">{len(items)}</td></tr>'
            )
        out.append("</table>")
    else:
        out.append('<div class="sub">none</div>')
    out.append("<h2>Key</h2><table>")
    key_rows = [
        (
            f'<span class="mda-dot ring" style="background:{PRIORITY_COLOR["alarm"]}"></span>',
            "Alarm (critical, high): double ring",
        ),
        (
            f'<span class="mda-dot" style="background:{PRIORITY_COLOR["warning"]}"></span>',
            "Warning (medium)",
        ),
        (
            f'<span class="mda-dot" style="background:{PRIORITY_COLOR["caution"]}"></span>',
            "Caution (low)",
        ),
        (
            '<span class="mda-line"></span>',
            track_note
            or f"Track from {int(PAD_S // 60)} min before to {int(PAD_S // 60)} min after the "
            "alert; the dot is its last fix. Jumps are not joined.",
        ),
        ('<span class="mda-line gap"></span>', f"No report for over {int(GAP_S // 60)} min"),
        (
            f'<span class="mda-area" style="border-color:{ZONE_STYLE["restricted"]["color"]};'
            f'background:rgba(255,93,93,.15)"></span>',
            "Restricted zone",
        ),
        (
            f'<span class="mda-area" style="border-color:{ZONE_STYLE["lane"]["color"]};'
            f'border-style:dashed;background:rgba(193,111,224,.15)"></span>',
            "Lane (TSS, IRTC)",
        ),
    ]
    if area:
        key_rows.append(
            (f'<span class="mda-area" style="border-color:{AREA_COLOR}"></span>', "Area")
        )
    out.extend(f"<tr><td>{sym}</td><td>{_e(text)}</td></tr>" for sym, text in key_rows)
    out.append("</table>")
    out.append('<h2>Inputs</h2><ul class="files">')
    for f in inputs:
        role = "" if f.role == "log" else f" ({f.role})"
        out.append(
            f'<li><b>{_e(f.name)}</b>{_e(role)} <span class="sub">{f.size:,} bytes</span>'
            f'<div class="hash">SHA-256 {_e(f.sha256)}</div></li>'
        )
    out.append("</ul>")
    out.append(
        f'<div class="foot">Generated by {_e(generator)} {_e(version)}; {zones_count} zones '
        f"(built-in{' and the files given' if generator == 'mda analyze' else ''}). "
        f"Click an alert for its details; times in "
        f"UTC. Land: Natural Earth. Map: Leaflet.</div></div>"
    )
    return "".join(out)


def _bbox(
    alerts: Sequence, tracks: Mapping[int, Sequence]
) -> tuple[float, float, float, float] | None:
    lats: list[float] = [a.lat for a in alerts]
    lons: list[float] = [a.lon for a in alerts]
    for fixes in tracks.values():
        lats.extend(f[1] for f in fixes)
        lons.extend(f[2] for f in fixes)
    if not lats:
        return None
    return min(lons), min(lats), max(lons), max(lats)


def _padded(box, pad: float) -> tuple[float, float, float, float]:
    w, s, e, n = box
    return (
        round(max(-180.0, w - pad), 2),
        round(max(-85.0, s - pad), 2),
        round(min(180.0, e + pad), 2),
        round(min(85.0, n + pad), 2),
    )


def _plausible(a, b) -> bool:
    """Could one ship have sailed from fix ``a`` to fix ``b``?"""
    d = _nm(a[1], a[2], b[1], b[2])
    return d <= JUMP_NM or d <= MAX_SOG_KN * abs(b[0] - a[0]) / 3600.0


def _strands(fixes: Sequence) -> list[list]:
    """Split one vessel's fixes into strands a ship could have sailed: a position jump is
    left unjoined, and two transmitters sharing an MMSI come out as two tracks rather than a
    zigzag between them. A fix joins the strand whose last fix it can be reached from (the
    latest such), else starts one."""
    strands: list[list] = []
    for f in fixes:
        best = None
        for s in strands:
            if _plausible(s[-1], f) and (best is None or s[-1][0] > best[-1][0]):
                best = s
        if best is None and len(strands) >= MAX_STRANDS:
            best = min(strands, key=lambda s: _nm(s[-1][1], s[-1][2], f[1], f[2]))
        if best is None:
            strands.append([f])
        else:
            best.append(f)
    return strands


def _segments(fixes: Sequence, windows: Sequence[tuple[float, float]]):
    """Split a vessel's fixes into its windows, each window into strands and each strand at
    its gaps: yields (strand fixes, solid runs, gap connectors)."""
    i = 0
    for t0, t1 in windows:
        while i < len(fixes) and fixes[i][0] < t0:
            i += 1
        part = []
        while i < len(fixes) and fixes[i][0] <= t1:
            part.append(fixes[i])
            i += 1
        for strand in _strands(part):
            runs: list[list] = [[strand[0]]]
            gaps: list[list] = []
            for prev, cur in zip(strand, strand[1:]):
                if cur[0] - prev[0] > GAP_S:
                    gaps.append([prev, cur])
                    runs.append([cur])
                else:
                    runs[-1].append(cur)
            yield strand, runs, gaps


_LABEL_STEPS = (300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _time_labels(fixes: Sequence, count: int, Bind, group) -> None:
    """About ``count`` labels of the time along a strand, on round UTC times (every 5 min
    ... 1 day, whichever gives no more than ``count``), each at the first fix at or after
    its time, with a permanent tooltip."""
    import folium

    t0, t1 = fixes[0][0], fixes[-1][0]
    if t1 <= t0:
        return
    step = next((s for s in _LABEL_STEPS if (t1 - t0) / s <= count), _LABEL_STEPS[-1])
    lats, lons = [f[1] for f in fixes], [f[2] for f in fixes]
    # labels closer than this (degrees) to the last one would overlap: a slow drift
    apart = max(0.02, math.hypot(max(lats) - min(lats), max(lons) - min(lons)) / (count * 1.5))
    i = 0
    at = math.ceil(t0 / step) * step
    last = None
    while at <= t1:
        while fixes[i][0] < at:
            i += 1
        f = fixes[i]
        at = math.floor(f[0] / step) * step + step
        if last is not None and math.hypot(f[1] - last[1], f[2] - last[2]) < apart:
            continue
        last = f
        mark = folium.CircleMarker(
            [f[1], f[2]], radius=2, color=TRACK, weight=1, fill=True, fill_opacity=1.0
        )
        if step >= 86400:
            text = _utc(f[0])[:10]
        elif _utc(t0)[:10] != _utc(t1)[:10]:
            text = _utc(f[0])[5:16] + "Z"  # 01-15 14:00Z
        else:
            text = _utc(f[0])[11:16] + "Z"
        mark.add_child(
            Bind(
                "bindTooltip",
                text,
                permanent=True,
                direction="right",
                offset=[4, 0],
                className="mda-time",
            )
        )
        mark.add_to(group)


def _zones_geojson(
    zones: Iterable, kinds: set[str] | None, exclude: set[str], texts: _Texts
) -> dict:
    """The zones of a layer; their names and kinds (text from the inputs) as placeholders."""
    from shapely.geometry import mapping

    features = []
    for z in zones:
        if (kinds is not None and z.kind not in kinds) or (kinds is None and z.kind in exclude):
            continue
        label = z.name + (
            f" \u2192 {round(z.direction):03d}\u00b0" if z.direction is not None else ""
        )
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "name": texts.token(z.name),
                    "kind": texts.token(z.kind),
                    # Leaflet shows a tooltip's string as HTML: the name as text.
                    "label": texts.token(_e(label)),
                },
                "geometry": _round_coords(mapping(z.geometry), 5),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _zone_style(kind: str) -> dict:
    if kind in ("port", "anchorage"):
        return ZONE_STYLE["port"]
    return ZONE_STYLE.get(kind, ZONE_STYLE["other"])


def build_report(
    alerts: Sequence,
    tracks: Mapping[int, Sequence[tuple[float, float, float]]],
    zones: Iterable,
    inputs: Sequence[InputFile],
    *,
    span: tuple[float, float] | None = None,
    version: str | None = None,
    windows: Mapping[int, Sequence[tuple[float, float]]] | None = None,
    title: str = "Incident map",
    generator: str = "mda analyze",
    track_note: str | None = None,
    time_labels: int = 0,
    area: tuple[float, float, float, float] | None = None,
) -> str:
    """The incident map as one self-contained HTML page.

    ``alerts``: analytics Alerts (final states); ``tracks``: per MMSI, fixes ``(ts, lat,
    lon)`` in time order (a TrackCollector's); ``zones``: the Zone objects the rules used;
    ``inputs``: the files, named in the legend with their SHA-256; ``span``: the time span
    of the input (first and last fix).

    For incident extracts (``exchange.extract``): ``windows`` (per MMSI, the time windows
    its track is drawn over, instead of each alert's padded period), ``title``,
    ``generator`` and ``track_note`` (the legend's words), ``time_labels`` (about this many
    labels of the time, UTC, along each track) and ``area`` (a box south, west, north,
    east, drawn and framed)."""
    import folium

    if version is None:
        version = _version()
    alerts = sorted(alerts, key=lambda a: (a.start, a.mmsi or 0, a.kind, a.key))
    zones = list(zones)
    if span is None:
        times = [f[0] for fx in tracks.values() for f in fx] + [a.start for a in alerts]
        span = (min(times), max(times)) if times else None
    box = _bbox(alerts, tracks)
    if area is not None:
        s, w, n, e = area
        box = (
            (w, s, e, n)
            if box is None
            else (min(box[0], w), min(box[1], s), max(box[2], e), max(box[3], n))
        )
    texts = _Texts()
    Bind, Script = _elements(texts)
    view = box or DEFAULT_BOX
    m = folium.Map(
        location=[(view[1] + view[3]) / 2, (view[0] + view[2]) / 2],
        zoom_start=5,
        tiles=None,
        font_size="13px",
        zoom_control=True,
        minZoom=2,
        maxZoom=16,
        worldCopyJump=False,
    )
    figure = m.get_root()
    figure.title = f"{generator}: {title[:1].lower() + title[1:]}"

    # Land: fill only, so the clipping box leaves no false coastline.
    land_style = {"stroke": False, "fillColor": LAND, "fillOpacity": 1.0}
    overview = folium.GeoJson(
        _land("overview", _padded(view, OVERVIEW_PAD_DEG), 2),
        name="Land",
        style_function=lambda f: land_style,
        interactive=False,
        control=False,
        smooth_factor=0.5,
    )
    detail = folium.GeoJson(
        _land("detail", _padded(view, DETAIL_PAD_DEG), 3),
        name="Land (detail)",
        style_function=lambda f: land_style,
        interactive=False,
        control=False,
        show=False,
        smooth_factor=0.5,
    )
    overview.add_to(m)
    detail.add_to(m)

    for name, kinds, show in ZONE_GROUPS:
        fc = _zones_geojson(zones, kinds, exclude={"lane", "port", "anchorage"}, texts=texts)
        group = folium.FeatureGroup(name=f"{name}: {len(fc['features'])}", show=show)
        if fc["features"]:
            folium.GeoJson(
                fc,
                style_function=lambda f: _zone_style(texts.value(f["properties"]["kind"])),
                smooth_factor=0.5,
                on_each_feature=folium.JsCode(
                    "function (f, layer) { layer.bindTooltip(f.properties.label, {sticky: true}); }"
                ),
            ).add_to(group)
        group.add_to(m)

    track_group = folium.FeatureGroup(name="Evidence tracks")
    for mmsi in sorted(tracks):
        if windows is None:
            spans = track_windows([a for a in alerts if mmsi in _vessels(a)]).get(mmsi, [])
        else:
            spans = windows.get(mmsi, [])
        for part, runs, gaps in _segments(tracks[mmsi], spans):
            solid = [[[f[1], f[2]] for f in run] for run in runs if len(run) > 1]
            if solid:
                line = folium.PolyLine(
                    solid, color=TRACK, weight=2.5, opacity=0.85, smooth_factor=1.0
                )
                line.add_child(
                    Bind(
                        "bindTooltip",
                        f"MMSI {mmsi}: {_utc(part[0][0])} \u2013 "
                        f"{_utc(part[-1][0], with_date=False)}, {len(part)} fixes shown",
                        sticky=True,
                    )
                )
                line.add_to(track_group)
            if gaps:
                folium.PolyLine(
                    [[[f[1], f[2]] for f in g] for g in gaps],
                    color=TRACK,
                    weight=2,
                    opacity=0.8,
                    dash_array="5 6",
                    interactive=False,
                ).add_to(track_group)
            last = part[-1]
            end = folium.CircleMarker(
                [last[1], last[2]],
                radius=3.5 if len(part) > 1 else 2.5,
                color=TRACK,
                weight=1,
                fill=True,
                fill_color=TRACK,
                fill_opacity=1.0,
            )
            end.add_child(
                Bind(
                    "bindTooltip",
                    f"MMSI {mmsi}: "
                    + ("last fix shown, " if len(part) > 1 else "lone fix, ")
                    + _utc(last[0]),
                )
            )
            end.add_to(track_group)
            if time_labels:
                _time_labels(part, time_labels, Bind, track_group)
    track_group.add_to(m)
    if area is not None:
        s, w, n, e = area
        folium.Rectangle(
            [[s, w], [n, e]], color=AREA_COLOR, weight=2, fill=False, interactive=False
        ).add_to(m)

    alert_group = folium.FeatureGroup(name=f"Alerts: {len(alerts)}")
    # Lowest priority first, so alarms are drawn on top.
    for a in sorted(alerts, key=lambda a: -PRIORITY_RANK[PRIORITY.get(a.severity, "caution")]):
        prio = PRIORITY.get(a.severity, "caution")
        color = PRIORITY_COLOR[prio]
        if prio == "alarm":  # ux.md: not by colour alone
            folium.CircleMarker(
                [a.lat, a.lon], radius=12, color=color, weight=2.5, fill=False, interactive=False
            ).add_to(alert_group)
        dot = folium.CircleMarker(
            [a.lat, a.lon],
            radius=7,
            color="#1a1a1a",
            weight=1.5,
            fill=True,
            fill_color=color,
            fill_opacity=0.95,
        )
        dot.add_child(Bind("bindPopup", _popup(a), maxWidth=380, minWidth=250))
        dot.add_child(
            Bind(
                "bindTooltip",
                f"{KIND_TEXT.get(a.kind, a.kind)}: MMSI {a.mmsi}",
                direction="top",
                offset=[0, -8],
            )
        )
        dot.add_to(alert_group)
    alert_group.add_to(m)

    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    m.add_child(
        Script(
            """L.control.scale({imperial: false}).addTo(MAP);
    MAP.attributionControl.setPrefix(false);
    MAP.attributionControl.addAttribution('Land: Natural Earth | Leaflet');
    var mdaLegend = L.control({position: 'topleft'});
    mdaLegend.onAdd = function () {
        var div = L.DomUtil.create('div', '');
        div.innerHTML = LEGEND;
        var legend = div.firstChild;  // clicks and wheel on it are not the map's
        L.DomEvent.disableClickPropagation(legend);
        L.DomEvent.disableScrollPropagation(legend);
        return legend;
    };
    mdaLegend.addTo(MAP);
    function mdaLand() {  // the 1:10m land from DETAIL_ZOOM on, the 1:50m below
        var detail = MAP.getZoom() >= DETAIL_ZOOM;
        if (detail !== MAP.hasLayer(DETAIL)) {
            if (detail) { MAP.addLayer(DETAIL); MAP.removeLayer(OVERVIEW); }
            else { MAP.addLayer(OVERVIEW); MAP.removeLayer(DETAIL); }
            DETAIL.bringToBack(); OVERVIEW.bringToBack();
        }
    }
    MAP.on('zoomend', mdaLand);
    mdaLand();""",
            DETAIL=detail,
            OVERVIEW=overview,
            DETAIL_ZOOM=str(DETAIL_ZOOM),
            LEGEND=texts.literal(
                _legend(
                    alerts,
                    inputs,
                    span,
                    len(zones),
                    version,
                    title=title,
                    generator=generator,
                    track_note=track_note,
                    area=area is not None,
                )
            ),
        )
    )
    if box is not None:
        w, s, e, n = box
        if e - w < 0.2 and n - s < 0.2:  # one point: not to the last zoom level
            w, s, e, n = w - 0.3, s - 0.3, e + 0.3, n + 0.3
        m.fit_bounds(
            [[s, w], [n, e]],
            padding_top_left=(340, 30),
            padding_bottom_right=(230, 30),
            max_zoom=12,
        )
    js, css, _ = _leaflet()
    head = "\n    ".join(
        (
            _notices(),
            f"<style>{css}</style>",
            f"<script>{js}</script>",
            "<style>"
            + CSS % {"sea": SEA, "alarm": PRIORITY_COLOR["alarm"], "track": TRACK}
            + "</style>",
        )
    )
    return _offline(figure.render(), texts, head)


def _version() -> str:
    try:
        from importlib.metadata import version

        return "mda " + version("mda")
    except Exception:  # not installed as a distribution: run from a checkout
        return "mda"
