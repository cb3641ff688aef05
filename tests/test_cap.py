"""CAP 1.2 warnings in as hazard areas, and hazards out as CAP: samples with a polygon, a
circle, several areas and several info blocks; malformed ones (a missing info, a bad polygon,
an external entity, entity expansion) each refused with the element at fault."""

from __future__ import annotations

from datetime import datetime

import pytest
from shapely.geometry import Point

from mda.analytics.hazards import VesselState, vessels_at_risk
from mda.exchange.cap import (
    CAP_NS,
    CapError,
    CapNotLive,
    cap_cancels,
    cap_reference,
    cap_sender,
    parse_cap,
    to_cap,
)

T = datetime.fromisoformat("2026-05-14T06:00:00+05:30").timestamp()


def alert(*infos: str, head: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>IMD-2026-05-14-001</identifier>
  <sender>rsmc.imd.gov.in</sender>
  <sent>2026-05-14T06:00:00+05:30</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>{head}
  {"".join(infos)}
</alert>"""


def info(
    areas: str,
    severity: str = "Extreme",
    headline: str = "Cyclone warning",
    onset: str = "2026-05-14T06:00:00+05:30",
    expires: str = "2026-05-15T06:00:00+05:30",
):
    return f"""<info>
    <category>Met</category><event>Very severe cyclonic storm</event>
    <urgency>Immediate</urgency><severity>{severity}</severity><certainty>Likely</certainty>
    <onset>{onset}</onset><expires>{expires}</expires><headline>{headline}</headline>
    {areas}
  </info>"""


POLYGON = """<area><areaDesc>North Bay of Bengal</areaDesc>
  <polygon>18.0,86.0 18.0,90.0 21.0,90.0 21.0,86.0 18.0,86.0</polygon></area>"""
CIRCLE = """<area><areaDesc>Eye, 150 km</areaDesc><circle>15.0,88.0 150</circle></area>"""


def test_a_polygon_becomes_one_hazard_with_its_validity_and_severity():
    (h,) = parse_cap(alert(info(POLYGON)))
    assert h.name == "Cyclone warning" and h.severity == "critical"
    assert h.onset == T and h.expires == T + 86400
    assert h.geometry.bounds == (86.0, 18.0, 90.0, 21.0)
    assert h.details["identifier"] == "IMD-2026-05-14-001" and h.details["urgency"] == "Immediate"
    assert h.active(T + 3600) and not h.active(T + 2 * 86400)


def test_a_circle_several_areas_and_several_info_blocks():
    hazards = parse_cap(alert(info(POLYGON + CIRCLE), info(CIRCLE, "Moderate", "Swell")))
    assert [h.name for h in hazards] == ["Cyclone warning", "Swell"]
    assert [h.severity for h in hazards] == ["critical", "medium"]
    first = hazards[0]
    assert first.details["areas"] == ["North Bay of Bengal", "Eye, 150 km"]
    # both areas, united: the polygon's middle and the circle's centre, not the sea between
    assert first.geometry.contains(Point(88.0, 19.5)) and first.geometry.contains(Point(88.0, 15.0))
    assert not first.geometry.contains(Point(88.0, 17.0))
    assert first.geometry.geom_type == "MultiPolygon" and len(first.geometry.geoms) == 2
    # the circle's radius, on the sphere: a vessel 140 km from the centre is inside it
    (r,) = vessels_at_risk(hazards[1], [VesselState(1, T, 15.0 + 140 / 111.2, 88.0)], T)
    assert r.inside


def test_a_polygon_left_open_is_closed_and_one_crossing_itself_is_repaired():
    open_ring = "<area><areaDesc>x</areaDesc><polygon>18,86 18,90 21,90 21,86</polygon></area>"
    (h,) = parse_cap(alert(info(open_ring)))
    assert "not closed" in h.details["repairs"][0]
    bowtie = "<area><areaDesc>x</areaDesc><polygon>18,86 21,90 18,90 21,86 18,86</polygon></area>"
    (h,) = parse_cap(alert(info(bowtie)))
    assert "Self-intersection" in h.details["repairs"][0] and h.geometry.is_valid


@pytest.mark.parametrize(
    "doc, where",
    [
        (alert(), "alert/info: missing"),
        (alert(info("")), "alert/info[1]/area: missing"),
        (
            alert(
                info("<area><areaDesc>x</areaDesc><polygon>18,86 18,x 21,90 18,86</polygon></area>")
            ),
            "alert/info[1]/area[1]/polygon[1]: '18,x' is not 'lat,lon'",
        ),
        (
            alert(info("<area><areaDesc>x</areaDesc><polygon>18,86 18,90 18,86</polygon></area>")),
            "alert/info[1]/area[1]/polygon[1]: a polygon needs at least 4 points",
        ),
        (
            alert(
                info(
                    "<area><areaDesc>x</areaDesc><polygon>-10,170 -10,-170 0,-170 0,170 -10,170"
                    "</polygon></area>"
                )
            ),
            "crosses the antimeridian",
        ),
        (
            alert(info("<area><areaDesc>x</areaDesc><circle>10,179.9 100</circle></area>")),
            "alert/info[1]/area[1]/circle[1]: the circle of 100 km around 10,179.9 crosses the "
            "antimeridian",
        ),
        (
            alert(info("<area><areaDesc>x</areaDesc><circle>-5,-179.5 80</circle></area>")),
            "crosses the antimeridian",
        ),
        (alert(info("<area><areaDesc>Bay</areaDesc></area>")), "alert/info[1]/area[1]: no polygon"),
        (alert(info(CIRCLE, severity="Dire")), "alert/info[1]/severity: 'Dire'"),
        (alert(info(CIRCLE, expires="2026-05-13T06:00:00+05:30")), "alert/info[1]/expires"),
        (
            alert(info(CIRCLE)).replace("<sent>2026-05-14T06:00:00+05:30</sent>", ""),
            "alert/sent: missing",
        ),
        ("<alert><x/></alert>", "not a CAP 1.2 alert"),
        ("<alert", "not well-formed"),
    ],
)
def test_malformed_cap_is_refused_naming_the_element(doc, where):
    with pytest.raises(CapError) as e:
        parse_cap(doc)
    assert where in str(e.value)


def test_external_entities_and_entity_expansion_are_refused():
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier>'
        "</alert>"
    )
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&c;</identifier>'
        "</alert>"
    )
    for doc in (xxe, laughs):
        with pytest.raises(CapError) as e:
            parse_cap(doc)
        assert "refused" in str(e.value)
    with pytest.raises(CapError):
        parse_cap("x" * (2 << 20))


def test_a_hazard_goes_out_as_cap_that_comes_back_the_same():
    (h,) = parse_cap(alert(info(POLYGON)))
    vessel = VesselState(419000001, T, 17.0, 88.0, 12.0, 0.0, name="TEST SHIP")
    at_risk = vessels_at_risk(h, [vessel], T)
    xml = to_cap(h, sender="mda.example", identifier="mda-h1", sent=T, at_risk=at_risk)
    assert "419000001 TEST SHIP: enters" in xml
    (back,) = parse_cap(xml)
    assert back.name == h.name and back.severity == h.severity
    assert back.onset == h.onset and back.expires == h.expires
    assert back.geometry.equals_exact(h.geometry, 1e-5)


# CAP 1.2's sequence of the alert's elements (OASIS CAP-v1.2, 3.2.1), those we write.
ALERT_ORDER = [
    "identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
    "addresses", "code", "note", "references", "incidents", "info",
]  # fmt: skip


def test_an_ended_hazard_goes_out_as_a_cancel_referencing_the_earlier_alert():
    from xml.etree import ElementTree as ET

    (h,) = parse_cap(alert(info(POLYGON)))
    first = to_cap(h, sender="mda.example", identifier="mda-h1-100", sent=T)
    ref = cap_reference("mda.example", "mda-h1-100", T)
    assert ref == "mda.example,mda-h1-100,2026-05-14T00:30:00+00:00"
    assert f"<sent>{ref.split(',')[2]}</sent>" in first  # the reference names it exactly
    xml = to_cap(
        h,
        sender="mda.example",
        identifier="mda-h1-cancel-200",
        sent=T + 3600,
        msg_type="Cancel",
        references=[ref],
        note="Hazard ended by watch-officer",
    )
    children = [c.tag.split("}")[1] for c in ET.fromstring(xml)]
    assert children == sorted(children, key=ALERT_ORDER.index)
    assert ET.fromstring(xml).tag == f"{{{CAP_NS}}}alert"
    (back,) = parse_cap(xml)  # a partner's reader takes it
    assert back.details["msg_type"] == "Cancel" and back.details["references"] == ref
    assert back.details["note"] == "Hazard ended by watch-officer"
    assert back.details["identifier"] == "mda-h1-cancel-200"
    assert back.geometry.equals_exact(h.geometry, 1e-5)
    assert cap_cancels(xml) == [("mda.example", "mda-h1-100")]  # what a reader ends
    # an original alert names no earlier message; a cancel without one is refused
    assert parse_cap(first)[0].details["references"] is None and cap_cancels(first) is None
    with pytest.raises(CapError, match="references"):
        cap_cancels(xml.replace(ref, "mda.example"))
    with pytest.raises(ValueError, match="references"):
        to_cap(h, sender="s", identifier="i", sent=T, msg_type="Cancel")


def test_a_circle_near_the_antimeridian_but_clear_of_it_is_taken():
    (h,) = parse_cap(alert(info("<area><areaDesc>x</areaDesc><circle>10,179 100</circle></area>")))
    minx, _, maxx, _ = h.geometry.bounds
    assert 178.0 < minx and maxx < 180.0
    assert not h.geometry.contains(Point(0.0, 10.0)) and h.geometry.contains(Point(179.0, 10.0))


def _lang(language: str, headline: str, areas: str = POLYGON) -> str:
    return info(areas, headline=headline).replace(
        "<category>", f"<language>{language}</language><category>", 1
    )


def test_one_alert_in_several_languages_is_one_hazard_the_english_one():
    # the same warning in Hindi, then English, then French: one hazard, in English
    hazards = parse_cap(
        alert(
            _lang("hi-IN", "चक्रवात चेतावनी"),
            _lang("en-IN", "Cyclone warning"),
            _lang("fr-FR", "Alerte cyclone"),
        )
    )
    assert [(h.name, h.details["language"], h.details["info"]) for h in hazards] == [
        ("Cyclone warning", "en-IN", 2)
    ]
    assert hazards[0].id == "cap:IMD-2026-05-14-001:1"
    # no English: the first; CAP's default language is en-US
    (h,) = parse_cap(alert(_lang("fr-FR", "Alerte"), _lang("es-ES", "Alerta")))
    assert h.name == "Alerte"
    (h,) = parse_cap(alert(info(POLYGON, headline="Default"), _lang("fr-FR", "Alerte")))
    assert h.name == "Default" and h.details["language"] == "en-US"
    # two areas, each in two languages: two hazards; two events in one language: both
    hazards = parse_cap(
        alert(
            _lang("fr", "Alerte nord"),
            _lang("en", "North"),
            _lang("en", "Eye", CIRCLE),
            _lang("fr", "Oeil", CIRCLE),
        )
    )
    assert [h.name for h in hazards] == ["North", "Eye"]
    assert [h.id.rsplit(":", 1)[1] for h in hazards] == ["1", "2"]
    hazards = parse_cap(alert(_lang("en", "Wind"), _lang("en", "Storm surge")))
    assert [h.name for h in hazards] == ["Wind", "Storm surge"]


@pytest.mark.parametrize(
    "status, msg_type, says",
    [
        ("Exercise", "Alert", "alert/status: 'Exercise': an exercise"),
        ("Test", "Alert", "alert/status: 'Test': a technical test"),
        ("Draft", "Alert", "alert/status: 'Draft': a draft"),
        ("Actual", "Ack", "alert/msgType: 'Ack': acknowledges an earlier message"),
        ("Actual", "Error", "alert/msgType: 'Error': reports an error"),
    ],
)
def test_exercises_tests_drafts_acks_and_errors_are_not_live_warnings(status, msg_type, says):
    doc = (
        alert(info(POLYGON))
        .replace("<status>Actual</status>", f"<status>{status}</status>")
        .replace("<msgType>Alert</msgType>", f"<msgType>{msg_type}</msgType>")
    )
    with pytest.raises(CapNotLive) as e:
        parse_cap(doc, live_only=True)
    assert says in e.value.message and e.value.reason == (
        f"status {status}" if status != "Actual" else f"msgType {msg_type}"
    )
    # an Ack carries no info block: still the reason, not "info: missing"
    if msg_type == "Ack":
        bare = doc.split("<info>")[0] + "</alert>"
        with pytest.raises(CapNotLive):
            parse_cap(bare, live_only=True)
    assert parse_cap(doc)[0].details["status"] == status  # read as it is when asked


def test_our_sender_is_cap_safe_and_our_references_parse_back():
    """CAP forbids spaces and commas in sender and identifier: "MRCC Mumbai" goes out as
    "MRCC-Mumbai", and an Update's or a Cancel's references parse back with the reader."""
    assert cap_sender("MRCC Mumbai") == "MRCC-Mumbai"
    assert cap_sender("Coast Guard, Region 3") == "Coast-Guard--Region-3"
    assert cap_sender("") == "mda" and cap_sender("urn:oid:2.49.0.1") == "urn:oid:2.49.0.1"
    (h,) = parse_cap(alert(info(POLYGON)))
    with pytest.raises(ValueError, match="spaces and commas"):
        to_cap(h, sender="MRCC Mumbai", identifier="x", sent=T)
    with pytest.raises(ValueError, match="spaces and commas"):
        to_cap(h, sender="MRCC-Mumbai", identifier="a,b", sent=T)
    sender = cap_sender("MRCC Mumbai")
    first = to_cap(h, sender=sender, identifier="mda-hazard-1-a", sent=T)
    ref1 = cap_reference("MRCC Mumbai", "mda-hazard-1-a", T)  # the name as configured
    update = to_cap(
        h, sender=sender, identifier="mda-hazard-1-b", sent=T + 60, msg_type="Update",
        references=[ref1],
    )  # fmt: skip
    ref2 = cap_reference(sender, "mda-hazard-1-b", T + 60)
    cancel = to_cap(
        h, sender=sender, identifier="mda-hazard-1-c", sent=T + 120, msg_type="Cancel",
        references=[ref1, ref2],
    )  # fmt: skip
    (a,) = parse_cap(first)
    (u,) = parse_cap(update)
    assert a.details["sender"] == u.details["sender"] == "MRCC-Mumbai"
    from mda.store.hazards import _references

    assert _references(u.details["references"]) == [("MRCC-Mumbai", "mda-hazard-1-a")]
    assert cap_cancels(cancel) == [
        ("MRCC-Mumbai", "mda-hazard-1-a"),
        ("MRCC-Mumbai", "mda-hazard-1-b"),
    ]
