"""Property-based tests (hypothesis) of the two places a stranger's text reaches first.

- The NMEA path (``ingest.decoder.Decoder`` behind ``ingest.sources.LineSplitter``):
  arbitrary text and bytes, tag blocks, USCG trailers, ``$PGHP`` lines and multi-sentence
  fragments in any order never raise and never hit the decoder's ``internal_error``
  fallback; every line is accounted for as stored, duplicate or rejected under a known
  reason (``lines == accounted + pending``, and ``pending == 0`` after ``flush``).
- Every query parameter (and path parameter) of every GET route, through the ASGI app on
  a real database: any string answers 2xx/3xx or a 4xx with the JSON error shape, never
  a 500. ``web.params``'s parsers take any string and give a value or a 422.

Bounded and deterministic: ``derandomize=True`` with no example database, a fixed
``max_examples`` per property; the module runs in well under a minute.
"""

from __future__ import annotations

import asyncio
import string
import warnings
from urllib.parse import quote

import psycopg
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_support import BASE, make_settings

from mda.ingest.decoder import Decoder
from mda.ingest.nmea import checksum
from mda.ingest.sources import LineSplitter
from mda.ingest.stats import REASONS
from mda.store.accounts import create_token
from mda.web.app import create_app
from mda.web.errors import WebError
from mda.web.live import LiveHub
from mda.web.params import csv, parse_bbox, parse_time

with warnings.catch_warnings():  # "use httpx2": the installed httpx is what the app's tests use
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

RECV_TS = 1_700_000_100.0  # the moment every fuzzed batch "arrives"

# ---------------------------------------------------------------------------------------
# The NMEA path


ARMOR = "".join(chr(c) for c in [*range(48, 88), *range(96, 120)])
# Real sentences (a class A position, a two-part type 5) to mutate and cut into pieces.
REAL = [
    "!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C",
    "!AIVDM,2,1,3,B,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1D",
    "!AIVDM,2,2,3,B,88888888880,2*24",
    "$PGHP,1,2023,11,14,22,13,0,0,219,,2190047,1,00*24",
]


def _cs(body: str) -> str:
    return f"{checksum(body.encode('latin-1')):02X}"


def sentence(total: int, num: int, seq: str, channel: str, payload: str, fill: int) -> str:
    body = f"AIVDM,{total},{num},{seq},{channel},{payload},{fill}"
    return f"!{body}*{_cs(body)}"


def tag_block(fields: list[str], good_checksum: bool) -> str:
    body = ",".join(fields)
    cs = _cs(body) if good_checksum else "ZZ"
    return f"\\{body}*{cs}\\"


tag_field = st.one_of(
    st.builds(lambda s: f"s:{s}", st.text(string.ascii_letters + string.digits, max_size=8)),
    st.builds(lambda t: f"c:{t}", st.integers(-10, 2 * 10**12)),
    st.builds(lambda t: f"c:{t:.3f}", st.floats(0, 2e9, allow_nan=False)),
    st.builds(
        lambda a, b, g: f"g:{a}-{b}-{g}",
        st.integers(0, 4),
        st.integers(0, 4),
        st.text(string.digits, max_size=5),
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
)

structured_sentence = st.builds(
    sentence,
    st.integers(0, 10),
    st.integers(0, 10),
    st.sampled_from(["", "0", "1", "3", "9", "x"]),
    st.sampled_from(["A", "B", "", "1"]),
    st.one_of(st.text(ARMOR, max_size=70), st.sampled_from([p.split(",")[5] for p in REAL[:3]])),
    st.integers(-1, 7),
)

uscg_trailer = st.builds(
    lambda station, ts: f",d-109,S2105,t050056.00,r{station},{ts}",
    st.text(string.ascii_letters + string.digits, max_size=10),
    st.integers(0, 2 * 10**9),
)


@st.composite
def nmea_line(draw) -> str:
    """A line shaped like AIS (with tag blocks, trailers, cut or mutated) or junk."""
    kind = draw(st.integers(0, 5))
    if kind == 0:  # anything at all, including control characters and non-ASCII
        return draw(st.text(max_size=120))
    if kind == 1:  # a real sentence, cut or with one character changed
        line = draw(st.sampled_from(REAL))
        i = draw(st.integers(0, len(line)))
        if draw(st.booleans()):
            return line[:i]
        return line[:i] + draw(st.characters(max_codepoint=255)) + line[i + 1 :]
    core = draw(st.one_of(structured_sentence, st.sampled_from(REAL)))
    if draw(st.booleans()):
        core = tag_block(draw(st.lists(tag_field, max_size=4)), draw(st.booleans())) + core
    if draw(st.booleans()):
        core += draw(uscg_trailer)
    if kind == 5:  # junk glued on either side
        core = draw(st.text(max_size=10)) + core + draw(st.text(max_size=10))
    return core


def _check_accounting(decoder: Decoder, flushed: bool) -> None:
    s = decoder.stats
    assert "internal_error" not in s.rejected, s.rejected
    assert set(s.rejected) <= set(REASONS), s.rejected
    assert all(v > 0 for v in s.rejected.values())
    assert s.lines == s.accounted + decoder.pending_lines, s.as_dict()
    if flushed:
        assert decoder.pending_lines == 0
        assert s.lines == s.accounted


def _feed_all(decoder: Decoder, batches: list[tuple[str, list[str]]]) -> int:
    emitted = 0
    for i, (source, lines) in enumerate(batches):
        batch = decoder.feed(lines, RECV_TS + i, source)
        emitted += len(batch.positions) + len(batch.statics)
        for p in batch.positions:
            assert -90 <= p.lat <= 90 and -180 <= p.lon <= 180
            assert 0 < p.mmsi <= 0x3FFFFFFF
        _check_accounting(decoder, flushed=False)
    return emitted


@FUZZ
@given(st.lists(st.lists(nmea_line(), max_size=12), max_size=6))
def test_any_text_lines_are_each_accounted_for(batches):
    decoder = Decoder()
    _feed_all(decoder, [("feed", lines) for lines in batches])
    decoder.flush()
    _check_accounting(decoder, flushed=True)
    assert decoder.stats.lines == sum(len(b) for b in batches)


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_any_bytes_through_the_line_splitter_are_accounted_for(chunks):
    """Raw socket chunks (NUL, CR, high bytes, lines split anywhere) as a TCP feed sees them."""
    splitter = LineSplitter()
    decoder = Decoder()
    n = 0
    for i, chunk in enumerate(chunks):
        lines = splitter.feed(chunk)
        n += len(lines)
        decoder.feed(lines, RECV_TS + i, "tcp")
        _check_accounting(decoder, flushed=False)
    tail = splitter.flush()
    n += len(tail)
    decoder.feed(tail, RECV_TS + len(chunks), "tcp")
    decoder.flush()
    _check_accounting(decoder, flushed=True)
    assert decoder.stats.lines == n


@st.composite
def fragments(draw) -> list[tuple[str, str]]:
    """The parts of a few multi-sentence messages from two feeds, some lost, repeated or
    shuffled, with and without tag-block groups, interleaved with $PGHP lines."""
    out: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 4))):
        total = draw(st.integers(1, 4))
        seq = draw(st.sampled_from(["", "1", "2", "7"]))
        source = draw(st.sampled_from(["rx1", "rx2"]))
        gid = draw(st.integers(1, 9999))
        payloads = draw(st.lists(st.text(ARMOR, min_size=1, max_size=60), min_size=total))
        for num in range(1, total + 1):
            line = sentence(total, num, seq, "A", payloads[num - 1], 0 if num < total else 2)
            if draw(st.booleans()):
                fields = [f"g:{num}-{total}-{gid}"]
                if num == 1 or draw(st.booleans()):
                    fields += ["s:station", f"c:{int(RECV_TS) - draw(st.integers(0, 100))}"]
                line = tag_block(fields, True) + line
            out.append((source, line))
            if draw(st.integers(0, 5)) == 0:
                out.append((source, REAL[3]))
    if draw(st.booleans()):  # lose some
        out = [x for x in out if draw(st.integers(0, 4)) != 0]
    out += draw(st.lists(st.sampled_from(out), max_size=3)) if out else []  # repeat some
    return draw(st.permutations(out))


@FUZZ
@given(fragments(), st.integers(1, 5))
def test_multipart_fragments_in_any_order_are_accounted_for(parts, per_batch):
    decoder = Decoder(multipart_timeout=2.0)
    batches = []
    for i in range(0, len(parts), per_batch):
        chunk = parts[i : i + per_batch]
        for source in ("rx1", "rx2"):
            lines = [line for s, line in chunk if s == source]
            if lines:
                batches.append((source, lines))
    _feed_all(decoder, batches)
    decoder.flush()
    _check_accounting(decoder, flushed=True)
    assert decoder.stats.lines == len(parts)


def test_the_fuzzed_shapes_reach_the_decoder_s_deep_paths():
    """The strategies are not all junk: real sentences decode, a repeat is a duplicate,
    and a split message is assembled (else the properties above would test little)."""
    decoder = Decoder()
    b = decoder.feed([REAL[0], REAL[0], REAL[1], REAL[2]], RECV_TS, "feed")
    assert len(b.positions) == 1 and len(b.statics) == 1 and b.duplicates == 1
    tagged = tag_block(["s:rx9", f"c:{int(RECV_TS) - 5}"], True) + REAL[0]
    d2 = Decoder()
    p = d2.feed([tagged], RECV_TS, "feed").positions
    assert p and p[0].source == "feed/rx9" and p[0].ts == RECV_TS - 5
    d3 = Decoder()
    assert d3.feed([REAL[3], REAL[0]], RECV_TS, "feed").positions  # $PGHP timestamps it
    assert d3.stats.message_lines == 2 and not d3.stats.rejected


# ---------------------------------------------------------------------------------------
# web.params


any_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "-99999999999d",
            "-1e308d",
            "-0.0000001s",
            "1e309",
            "-1e20",
            "nan",
            "inf",
            "-inf",
            "99999999999999999999",
            "0",
            "now",
            " now ",
            "9999-12-31T23:59:59",
            "0001-01-01",
            "2024-02-30",
            "2024-01-01T00:00:00+25:00",
            "1,2,3,nan",
            "-181,0,0,0",
            "180,-90,-180,90",
            "1e400,0,0,0",
            ",,,",
            "\x00",
            "a\x00b",
            "\ud7ff",
            "%00",
            "'; drop table vessels; --",
        ]
    ),
    st.from_regex(r"-[0-9]{1,20}(\.[0-9]{0,5})?[smhd]", fullmatch=True),
    st.floats().map(str),
    st.integers().map(str),
    st.lists(st.floats(allow_nan=True).map(str), min_size=3, max_size=5).map(",".join),
)


@FUZZ
@given(any_text)
def test_parse_time_gives_a_time_in_range_or_a_422(value):
    try:
        t = parse_time(value, "since")
    except WebError as e:
        assert e.status == 422 and e.message.startswith("since: ")
        return
    assert t is None or 1900 <= t.year <= 2999


@FUZZ
@given(any_text)
def test_parse_bbox_gives_a_box_or_a_422(value):
    try:
        box = parse_bbox(value)
    except WebError as e:
        assert e.status == 422 and e.message.startswith("bbox: ")
        return
    if box is not None:
        assert -90 <= box.min_lat <= box.max_lat <= 90


@FUZZ
@given(st.text())
def test_csv_takes_any_text(value):
    assert all(x and x == x.strip() for x in csv(value))


# ---------------------------------------------------------------------------------------
# Every GET route's parameters, through the app on a real database


def _flat(routes):
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield r


def _params(dependant) -> tuple[list[str], list[str]]:
    query = [q.alias for q in dependant.query_params]
    path = [p.alias for p in dependant.path_params]
    for sub in dependant.dependencies:
        q, p = _params(sub)
        query += q
        path += p
    return query, path


def _get_routes(app) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for r in _flat(app.router.routes):
        if isinstance(r, APIRoute) and "GET" in r.methods:
            query, path = _params(r.dependant)
            out.append((r.path, sorted(set(query)), sorted(set(path))))
    return out


def test_every_get_route_parameter_gives_no_500(migrated, tmp_path):
    async def token() -> str:
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            return await create_token(c, "fuzz", "admin")

    bearer = {"Authorization": f"Bearer {asyncio.run(token())}", "Accept": "application/json"}
    hub = LiveHub(interval=0.5, status_interval=1.0)
    app = create_app(
        make_settings(tmp_path), migrated, hub=hub, status=lambda: {"feeds": [], "uptime_s": 1}
    )
    routes = _get_routes(app)
    with_params = [r for r in routes if r[1] or r[2]]
    assert len(with_params) >= 15, routes  # the walk found the API, not an empty list
    assert ("/api/vessels", ["bbox", "limit", "since"], []) in routes
    seen: dict[str, int] = {}

    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as client:

        def check(path_template: str, query: dict[str, str], path_values: dict[str, str]):
            path = path_template
            for name, value in path_values.items():
                path = path.replace("{" + name + "}", quote(value, safe="") or "0")
            r = client.get(path, params=query, headers=bearer, follow_redirects=False)
            seen[path_template] = seen.get(path_template, 0) + 1
            where = f"GET {path} {query!r}"
            assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
            if r.status_code >= 400:
                body = r.json()
                assert body["error"]["status"] == r.status_code, where
                assert body["error"]["message"], where
                assert "Traceback" not in r.text, where

        @settings(FUZZ, max_examples=300)
        @given(st.data())
        def each_route(data):
            path, query_names, path_names = data.draw(st.sampled_from(with_params))
            query = {
                n: data.draw(any_text, label=n)
                for n in query_names
                if data.draw(st.booleans(), label=f"with {n}")
            }
            path_values = {
                n: data.draw(st.one_of(st.sampled_from(["419000001", "1"]), any_text), label=n)
                for n in path_names
            }
            check(path, query, path_values)

        each_route()
        # And every single parameter alone with the values most likely to break it.
        for path, query_names, path_names in with_params:
            fixed = {n: "1" for n in path_names}
            for n in query_names:
                for v in ("-99999999999d", "1e309", "nan", "a\x00b", "-1", "9" * 30):
                    check(path, {n: v}, fixed)
            for n in path_names:
                for v in ("-1", "9" * 30, "nan", "a\x00b"):
                    check(path, {}, {**fixed, n: v})
    assert set(seen) == {r[0] for r in with_params}
