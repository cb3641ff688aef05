"""Feeds that are not NMEA, through the decoder: AIS-catcher's JSON, gpsd's JSON, decoded
positions as JSON lines, CSV archives. Real samples (tests/data/README.md) give the same
positions as the same traffic given as NMEA; every line ends stored or rejected with a
reason; bad input is counted, never fatal, except a CSV header no layout fits (one error
naming the columns found and the option)."""

from __future__ import annotations

import asyncio
import gzip
import json
import zipfile
from pathlib import Path

import pytest

from mda.ingest import REASONS, Decoder, SourceError, decoded_format, make_reader, open_source

DATA = Path(__file__).parent / "data"
DERIVED = DATA / "derived"
RECV = 1.7e9  # after every sample's times: nothing is "future"


def decode(lines, fmt=None, **kw):
    d = Decoder(max_clock_lead=None)
    reader = make_reader(fmt, **kw) if fmt else None
    b = d.feed(list(lines), RECV, "t", reader)
    b2 = d.flush()
    assert d.stats.lines == d.stats.accounted  # every line in one place
    return d, b, b2


def nmea_positions():
    _, b, _ = decode((DERIVED / "norway.nmea").read_text().splitlines())
    return {(p.mmsi, int(p.ts)): p for p in b.positions}


def same(p, q, tol=1e-6) -> bool:
    return (
        abs(p.lat - q.lat) <= tol
        and abs(p.lon - q.lon) <= tol
        and p.sog == q.sog
        and p.cog == q.cog
        and p.heading == q.heading
        and p.nav_status == q.nav_status
    )


@pytest.mark.parametrize(
    "name, fmt, tol",
    [
        ("norway.aiscatcher.jsonl", "aiscatcher", 0.0),
        # AIS-catcher's floats are single precision (about 1e-5 degrees, a metre), and the US
        # layout has 5 decimals: the samples hold what it printed
        ("norway.dma.csv", "csv", 2e-5),
        ("norway.marinecadastre.csv", "csv", 2e-5),
    ],
)
def test_each_format_gives_the_positions_of_the_same_traffic_as_nmea(name, fmt, tol):
    ref = nmea_positions()
    _d, b, _ = decode((DERIVED / name).read_text().splitlines(), fmt)
    assert len(b.positions) == len(ref) == 233
    for p in b.positions:
        assert same(p, ref[(p.mmsi, int(p.ts))], tol), p
    # static data wherever the row has any (one vessel's rows have none)
    assert 232 <= len({s.mmsi for s in b.statics} & {m for m, _ in ref})


def test_aiscatcher_keeps_receive_time_and_station_as_a_tag_block():
    obj = json.loads((DERIVED / "norway.aiscatcher.jsonl").read_text().splitlines()[1])
    obj["station_id"] = "rx-7"
    _d, b, _ = decode([json.dumps(obj)], "aiscatcher")
    (p,) = b.positions
    assert p.ts == obj["toa"] and p.source == "t/rx-7"
    assert b.raw[0].line.startswith("\\s:rx-7,c:1682116189*")  # the archive keeps NMEA
    del obj["toa"]
    rxuxtime = obj.pop("rxuxtime")
    _d, b, _ = decode([json.dumps(obj)], "aiscatcher")
    assert b.positions[0].ts == rxuxtime  # rxtime: the same second, UTC


def test_aiscatcher_http_envelope_and_objects_without_sentences():
    msgs = [
        json.loads(x) for x in (DERIVED / "norway.aiscatcher.jsonl").read_text().splitlines()[:4]
    ]
    envelope = {"protocol": "jsonaiscatcher", "stationid": "MyStation", "msgs": msgs}
    d, b, _ = decode(
        [json.dumps(envelope), '{"class":"AIS","device":"AIS-catcher","nmea":[]}', "not json"],
        "aiscatcher",
    )
    assert {p.source for p in b.positions} == {"t/MyStation"}
    assert d.stats.rejected == {"no_nmea": 1, "not_json": 1}


def test_gpsd_json_against_the_nmea_it_came_from():
    # gpsd's own decode of its test file (BSD-2-Clause), against our decode of the file
    _, bn, _ = decode((DATA / "gpsd" / "sample.aivdm").read_text().splitlines())
    d, bg, _ = decode((DATA / "gpsd" / "sample.aivdm.js.chk").read_text().splitlines(), "gpsd")
    for p in bg.positions:  # gpsd prints type 27 to 4 decimals
        assert any(q.mmsi == p.mmsi and same(p, q, 1e-4) for q in bn.positions), p
    assert d.stats.messages + d.stats.duplicates + d.stats.rejected_lines == 97
    # gpsd's output of 700 real Norwegian lines (gpsdecode 3.25): the same 233 positions
    ref = nmea_positions()
    d, b, _ = decode((DERIVED / "norway.gpsd.jsonl").read_text().splitlines(), "gpsd")
    assert d.stats.untimed == d.stats.messages == 466  # gpsd states no receive time
    by_mmsi = {}
    for q in ref.values():
        by_mmsi.setdefault(q.mmsi, []).append(q)
    for p in b.positions:
        assert any(same(p, q) for q in by_mmsi[p.mmsi]), p
    assert len(b.positions) == 233


def test_gpsd_objects_that_are_not_ais_are_counted():
    d, _b, _ = decode(
        ['{"class":"VERSION","release":"3.25"}', '{"class":"TPV","lat":1}', "{", "[1,2]"], "gpsd"
    )
    assert d.stats.rejected == {"not_ais": 2, "not_json": 2}


def test_real_decoded_json_lines_give_the_positions_of_their_nmea():
    """BarentsWatch's own JSON lines (NLOD): the Norwegian NMEA was made from them."""
    lines = (DATA / "barentswatch" / "AIS_2023_04_21_head.jsonl").read_text().splitlines()
    d, b, _ = decode(lines, "json")
    assert d.stats.positions == len(lines) == 102 and not d.stats.rejected
    nmea = Decoder(max_clock_lead=None)
    full = nmea.feed(
        gzip.open(DATA / "norway" / "barentswatch_2023-04-21.nmea.gz", "rt").read().splitlines(),
        RECV,
        "n",
    )
    ref = {(p.mmsi, int(p.ts)): p for p in full.positions}
    for p in b.positions:
        q = ref[(p.mmsi, int(p.ts))]
        assert same(p, q) or (abs(p.lat - q.lat) < 1e-6 and p.sog == q.sog), p
    assert b.raw[0].line.startswith("decoded:json {")
    assert decoded_format(b.raw[0].line) == "json"


def test_json_object_without_a_position_is_counted_not_fatal():
    d, b, _ = decode(
        [
            '{"mmsi": 257000000, "time": "2023-04-21T22:00:00Z"}',  # nothing to store
            '{"mmsi": 257000001, "time": 1682114400, "name": "NAME ONLY"}',  # static only
            '{"mmsi": "x", "lat": 1, "lon": 2}',
            '{"mmsi": 257000002, "time": "yesterday", "lat": 1, "lon": 2}',
            '{"mmsi": 257000003, "time": 1682114400000, "lat": 91, "lon": 181}',
            "",
        ],
        "json",
    )
    assert d.stats.rejected == {
        "no_position": 2,
        "no_mmsi": 1,
        "unreadable_time": 1,
        "empty": 1,
    }
    assert [s.name for s in b.statics] == ["NAME ONLY"] and not b.positions


def test_json_mapping_nested_fields_and_mqtt_topic():
    # Digitraffic's vessels-v2: the MMSI is in the topic, the time in epoch seconds
    line = (
        'vessels-v2/230629000/location {"time":1667205422,"sog":0.1,"cog":346.5,"navStat":0,'
        '"rot":0,"posAcc":true,"heading":79,"lon":20.345818,"lat":60.03802}'
    )
    _d, b, _ = decode([line], "json", columns="mmsi=topic[1]")
    (p,) = b.positions
    assert (p.mmsi, p.ts, p.lat, p.sog, p.heading, p.nav_status) == (
        230629000,
        1667205422.0,
        60.03802,
        0.1,
        79,
        0,
    )
    nested = '{"MetaData": {"MMSI": 1, "time_utc": "2024-01-01 00:00:00"}, "Message": {"Lat": 1.5, "Lon": 2.5}}'
    _d, b, _ = decode(
        [nested],
        "json",
        columns="mmsi=MetaData.MMSI,time=MetaData.time_utc,lat=Message.Lat,lon=Message.Lon",
    )
    assert (b.positions[0].lat, b.positions[0].ts) == (1.5, 1704067200.0)


def test_csv_bad_rows_are_counted_by_reason():
    header = (
        "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,"
        "Length,Width,Draft,Cargo,TransceiverClass"
    )
    rows = [
        header,
        "367000001,2023-01-01T00:00:00,30.1,-90.1,0.1,-196.6,511,ONE,IMO9123456,WX1,70,0,,,,,A",
        "367000002,2023-01-01T00:00:01,30.2",  # cut
        "notanmmsi,2023-01-01T00:00:02,30.2,-90.2,,,,,,,,,,,,,A",
        "367000003,01-01-2023,30.2,-90.2,,,,,,,,,,,,,A",
        "367000004,2023-01-01T00:00:03,abc,-90.2,,,,,,,,,,,,,B",
        "367000005,2023-01-01T00:00:03,95,-90.2,,,,,,,,,,,,,B",
        header,  # files joined
        '367000006,2023-01-01T00:00:04,30.3,-90.3,1,2,3,"NAME, WITH COMMA",,,,,,,,,B',
    ]
    d, b, _ = decode(rows, "csv")
    assert d.stats.rejected == {
        "header": 2,
        "short_row": 1,
        "no_mmsi": 1,
        "unreadable_time": 1,
        "bad_value": 1,
        "out_of_range": 1,
    }
    one, six = b.positions
    assert (one.cog, one.heading, one.nav_status, one.msg_type) == (None, None, 0, 1)
    assert six.msg_type == 18 and b.statics[-1].name == "NAME, WITH COMMA"
    assert b.statics[0].imo == 9123456 and b.statics[0].ship_type == 70
    assert b.raw[0].line.startswith("decoded:csv-marinecadastre 367000001,")


def test_csv_rows_shorter_or_longer_than_the_header_read_the_cells_they_have():
    """A Danish row cut after its kinematic cells still gives its position (no statics);
    cells past the header's are ignored; a column the layout lacks reads as empty."""
    header = (DERIVED / "norway.dma.csv").read_text().splitlines()[0]
    rows = [
        header,
        "21/04/2023 22:29:49,Class A,258265000,62.442665,6.274941,Moored,0,1.5,181.0,95",
        "21/04/2023 22:29:50,Class B,258265001,62.44,6.27,,,2.5,90.0,511,,,NAME B,Fishing"
        + ",x" * 20,
    ]
    _d, b, _ = decode(rows, "csv")
    cut, long = b.positions
    assert (cut.sog, cut.cog, cut.heading, cut.nav_status, cut.msg_type) == (1.5, 181.0, 95, 5, 1)
    assert (long.sog, long.cog, long.heading, long.msg_type) == (2.5, 90.0, None, 18)
    assert [v.name for v in b.statics] == ["NAME B"] and b.statics[0].ship_type == 30
    rows = ["mmsi,time,lat,lon", "257000000,2023-04-21T22:00:00,60,5,12.5,90,80,extra"]
    _d, b, _ = decode(rows, "csv")
    (p,) = b.positions
    assert (p.sog, p.cog, p.heading, p.msg_type) == (None, None, None, 1) and not b.statics


def test_csv_time_zone_and_format():
    rows = ["ship;when;y;x", "257000000;21.04.2023 23:00:00;60;5"]
    with pytest.raises(SourceError):  # ';' is not the separator: no layout fits
        decode(rows, "csv")
    rows = ["ship,when,y,x", "257000000,21.04.2023 23:00:00,60,5"]
    _d, b, _ = decode(
        rows,
        "csv",
        columns="mmsi=ship,time=when,lat=y,lon=x",
        time_format="%d.%m.%Y %H:%M:%S",
        timezone="Europe/Oslo",
    )
    assert b.positions[0].ts == 1682110800.0  # 21:00 UTC


def test_unknown_csv_columns_give_one_message_with_the_columns_and_the_option(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("ship,when,y,x\n1,2,3,4\n")

    async def read():
        async with open_source(str(path)) as src:
            async for _ in src:
                pass

    with pytest.raises(SourceError) as e:
        asyncio.run(read())
    msg = str(e.value)
    assert "'ship', 'when', 'y', 'x'" in msg and "--columns" in msg and "\n" not in msg


def test_zip_and_gz_csv_files_stream_and_say_their_format(tmp_path):
    text = (DERIVED / "norway.dma.csv").read_bytes()
    zpath = tmp_path / "aisdk-2023-04-21.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("aisdk-2023-04-21.csv", text)
    gpath = tmp_path / "day.csv.gz"
    gpath.write_bytes(gzip.compress(text))

    async def read(path):
        d = Decoder(max_clock_lead=None)
        async with open_source(str(path)) as src:
            assert src.reader.format == "csv"
            async for batch in src:
                d.feed(batch.lines, RECV, batch.source, src.reader)
            assert src.progress[1] == path.stat().st_size and src.progress[0] > 0
        return d.stats

    for path in (zpath, gpath):
        stats = asyncio.run(read(path))
        assert stats.positions == 233 and stats.rejected == {"header": 1}


def test_json_files_say_which_json_they_hold(tmp_path):
    async def fmt(path):
        async with open_source(str(path)) as src:
            return src.reader.format

    for name, want in [
        ("norway.aiscatcher.jsonl", "aiscatcher"),
        ("norway.gpsd.jsonl", "gpsd"),
    ]:
        assert asyncio.run(fmt(DERIVED / name)) == want
    assert asyncio.run(fmt(DATA / "barentswatch" / "AIS_2023_04_21_head.jsonl")) == "json"


def test_every_new_reason_is_documented():
    readme = (Path(__file__).parents[1] / "ingest" / "README.md").read_text()
    for reason in (
        "not_json",
        "no_nmea",
        "no_mmsi",
        "unreadable_time",
        "bad_value",
        "short_row",
        "header",
    ):
        assert reason in REASONS and f"`{reason}`" in readme


def test_unknown_format_and_field_are_refused():
    with pytest.raises(SourceError, match="formats: nmea"):
        make_reader("xml")
    with pytest.raises(SourceError, match="unknown field 'speed'"):
        make_reader("csv", columns="speed=SOG")
