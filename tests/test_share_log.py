"""Sharing alerts with partners (issue 12, part 2) on the real database: an officer's
share from the API and the CLI, automatic shares by policy, and the share log, which the
database keeps append-only and whose hash chain ``mda share log --verify`` checks."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from web_support import Web, alert_change

from mda.cli import main
from mda.store import audit
from mda.store.partners import add_partner, disable_partner
from mda.store.shares import GENESIS, auto_share, row_hash, verify_rows

pytestmark = pytest.mark.integration

SHA = "ab" * 32
MANNAR = {  # a box around the Gulf of Mannar (lon/lat)
    "type": "Polygon",
    "coordinates": [[[78.0, 8.0], [80.0, 8.0], [80.0, 10.0], [78.0, 10.0], [78.0, 8.0]]],
}


@pytest.fixture(autouse=True)
def _cli_in_thread(monkeypatch):
    # main() installs a SIGTERM handler, which only the main thread may do
    monkeypatch.setattr("mda.cli.signal.signal", lambda *a: None)


async def cli(*args: str) -> int:
    """``mda ARGS`` as a shell runs it (its own event loop, in a thread)."""
    return await asyncio.to_thread(main, list(args))


async def _setup(web: Web) -> list[dict]:
    async with await web.conn() as c:
        await add_partner(c, "srilanka", "LK", min_severity="high", area=MANNAR, automatic=False)
        await add_partner(c, "maldives", "MV", kinds=["loitering", "encounter"])
        await add_partner(c, "gone", "SC")
        await disable_partner(c, "gone")
    return await web.alerts(
        alert_change("a1", severity="high", lat=9.0, lon=79.0),  # in Mannar
        alert_change("a2", kind="encounter", severity="medium", lat=12.0, lon=70.0),
        alert_change("a3", kind="ais_gap", severity="info", lat=9.0, lon=79.0),  # a notice
    )


async def test_share_from_the_api(web: Web):
    a1, a2, _ = await _setup(web)
    officer = await web.token("officer")
    url = f"/api/alerts/{a1['id']}/share"
    r = await web.client.post(url, json={"partners": ["srilanka", "maldives"]}, headers=officer)
    assert r.status_code == 200, r.text
    shares = r.json()["shares"]
    assert [(s["partner"], s["mode"], s["actor"]) for s in shares] == [
        ("srilanka", "manual", "test-officer"),
        ("maldives", "manual", "test-officer"),
    ]
    # unknown partner: 404, and nothing of that request is logged (one transaction)
    r = await web.client.post(url, json={"partners": ["maldives", "atlantis"]}, headers=officer)
    assert r.status_code == 404 and "atlantis" in r.json()["error"]["message"]
    r = await web.client.post(
        "/api/alerts/999999/share", json={"partners": ["maldives"]}, headers=officer
    )
    assert r.status_code == 404
    # outside the policy (medium, outside Mannar), disabled, a viewer: refused
    r = await web.client.post(
        f"/api/alerts/{a2['id']}/share", json={"partners": ["srilanka"]}, headers=officer
    )
    assert r.status_code == 422 and "policy" in r.json()["error"]["message"]
    r = await web.client.post(url, json={"partners": ["gone"]}, headers=officer)
    assert r.status_code == 409
    r = await web.client.post(
        url, json={"partners": ["maldives"]}, headers=await web.token("viewer")
    )
    assert r.status_code == 403
    assert await web.sql("SELECT count(*) FROM share_log") == [(2,)]

    r = await web.client.get(f"/api/alerts/{a1['id']}/shares", headers=officer)
    assert [s["partner"] for s in r.json()["shares"]] == ["srilanka", "maldives"]
    r = await web.client.get("/api/partners", headers=officer)
    assert {p["name"]: p["disabled"] for p in r.json()["partners"]} == {
        "gone": True,
        "maldives": False,
        "srilanka": False,
    }
    audited = await web.sql(
        "SELECT actor, target, details->'partners' FROM audit_log WHERE action = 'share.alert'"
    )
    assert audited == [("test-officer", f"alert:{a1['id']}", ["srilanka", "maldives"])]

    # with an extract of the alert (its audit row), whose SHA-256 must match when given
    async with await web.conn() as c:
        await audit.record(
            c,
            actor="hana",
            via="session",
            action="extract.alert",
            target=f"alert:{a1['id']}",
            details={"sha256": SHA},
        )
    (extract_id,) = (await web.sql("SELECT max(id) FROM audit_log"))[0]
    r = await web.client.post(
        url,
        json={"partners": ["maldives"], "extract_id": extract_id, "extract_sha256": "cd" * 32},
        headers=officer,
    )
    assert r.status_code == 422 and SHA in r.json()["error"]["message"]
    r = await web.client.post(
        f"/api/alerts/{a2['id']}/share",
        json={"partners": ["maldives"], "extract_id": extract_id},
        headers=officer,
    )
    assert r.status_code == 422  # an extract of another alert
    r = await web.client.post(
        url, json={"partners": ["maldives"], "extract_id": extract_id}, headers=officer
    )
    assert r.status_code == 200
    assert r.json()["shares"][0]["extract_sha256"] == SHA


async def test_automatic_shares_follow_each_policy_once(web: Web):
    a1, a2, a3 = await _setup(web)
    async with await web.conn() as c:
        first = await auto_share(c, [a1, a2, a3])
        again = await auto_share(c, [a1, a2, a3])
    # srilanka is manual, gone is disabled, the notice goes to no one, maldives takes
    # loitering and encounter of any severity, anywhere
    assert sorted((r["partner"], r["alert_id"], r["mode"]) for r in first) == [
        ("maldives", a1["id"], "automatic"),
        ("maldives", a2["id"], "automatic"),
    ]
    assert again == []
    assert await web.sql("SELECT count(*) FROM audit_log WHERE action = 'share.auto'") == [(1,)]


async def test_share_log_is_append_only_and_verified(web: Web, capsys):
    a1, a2, _ = await _setup(web)
    for alert_id in (a1["id"], a1["id"], a2["id"]):
        assert (
            await cli("share", str(alert_id), "--database", web.db_url, "--with", "maldives") == 0
        )
    assert f"alert {a2['id']} shared with maldives" in capsys.readouterr().out
    assert await cli("share", str(a1["id"]), "--database", web.db_url, "--with", "atlantis") == 2
    assert "no partner 'atlantis'" in capsys.readouterr().err
    assert await cli("share", "log", "--database", web.db_url, "--verify") == 0
    out = capsys.readouterr().out
    assert "share log intact: 3 rows" in out and out.count("-> maldives") == 3

    rows = await web.sql("SELECT id, prev_sha256, sha256 FROM share_log ORDER BY id")
    assert rows[0][1] == GENESIS and rows[1][1] == rows[0][2] and rows[2][1] == rows[1][2]

    # the database itself refuses to edit or remove a row
    async with await web.conn() as c:
        for sql in (
            "UPDATE share_log SET partner = 'srilanka' WHERE id = %s",
            "DELETE FROM share_log WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                await c.execute(sql, (rows[1][0],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await c.execute("TRUNCATE share_log")
        # a superuser who turns the trigger off can; --verify finds the row
        await c.execute("ALTER TABLE share_log DISABLE TRIGGER share_log_no_change")
        await c.execute("UPDATE share_log SET partner = 'srilanka' WHERE id = %s", (rows[1][0],))
    assert await cli("share", "log", "--database", web.db_url, "--verify") == 1
    out = capsys.readouterr().out
    assert f"share log BROKEN at row {rows[1][0]}: its fields do not match" in out
    assert "(1 rows before it hold)" in out

    # even with its own hash recomputed, the next row's link gives it away
    async with await web.conn() as c:
        cur = await c.execute("SELECT * FROM share_log WHERE id = %s", (rows[1][0],))
        names = [d.name for d in cur.description]
        altered = dict(zip(names, await cur.fetchone()))
        await c.execute(
            "UPDATE share_log SET sha256 = %s WHERE id = %s", (row_hash(altered), rows[1][0])
        )
    assert await cli("share", "log", "--database", web.db_url, "--verify") == 1
    assert f"BROKEN at row {rows[2][0]}: its prev_sha256" in capsys.readouterr().out

    # a row removed: the row after it names the gap
    async with await web.conn() as c:
        await c.execute("DELETE FROM share_log WHERE id = %s", (rows[1][0],))
    assert await cli("share", "log", "--database", web.db_url, "--verify") == 1
    assert f"BROKEN at row {rows[2][0]}" in capsys.readouterr().out


def test_verify_rows_pure():
    from datetime import UTC, datetime

    chain, prev = [], GENESIS
    for i in range(1, 4):
        row = {
            "id": i,
            "time": datetime(2026, 1, 1, 0, 0, i, 123456, tzinfo=UTC),
            "partner": "p",
            "alert_id": 10 + i,
            "extract_id": None,
            "extract_sha256": None,
            "mode": "manual",
            "actor": "a",
            "via": "cli",
            "prev_sha256": prev,
        }
        row["sha256"] = prev = row_hash(row)
        chain.append(row)
    assert verify_rows(chain) == (3, None)
    n, broken = verify_rows([chain[0], chain[2]])
    assert (n, broken.id) == (1, 3)
    moved = [chain[0], {**chain[1], "time": chain[1]["time"].replace(microsecond=0)}, chain[2]]
    n, broken = verify_rows(moved)
    assert (n, broken.id) == (1, 2)
    assert verify_rows([]) == (0, None)


async def test_concurrent_shares_chain(web: Web):
    a1, *_ = await _setup(web)
    officer = await web.token("officer")

    async def one():
        r = await web.client.post(
            f"/api/alerts/{a1['id']}/share", json={"partners": ["maldives"]}, headers=officer
        )
        assert r.status_code == 200, r.text

    await asyncio.gather(*(one() for _ in range(8)))
    async with await web.conn() as c:
        cur = await c.execute("SELECT * FROM share_log ORDER BY id")
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r)) for r in await cur.fetchall()]
    assert verify_rows(rows) == (8, None)


async def test_the_service_shares_by_policy_as_it_stores_alerts(web: Web):
    from mda.service import AlertStage

    class Analyzer:  # stands for the detectors: the changes they raise next
        def __init__(self):
            self.changes = []

        def process(self, records):
            return self.changes

    async with await web.conn() as c:
        await add_partner(c, "maldives", "MV", min_severity="high")
    analyzer = Analyzer()
    stage = AlertStage(analyzer, web.db_url)
    task = asyncio.create_task(stage.run())

    async def shares_after(*changes) -> list[tuple]:
        analyzer.changes = list(changes)
        await stage([], [])
        for _ in range(200):
            if not stage.pending:
                break
            await asyncio.sleep(0.02)
        return await web.sql("SELECT partner, mode, actor FROM share_log ORDER BY id")

    try:
        assert await shares_after(alert_change("s1", severity="medium")) == []
        # the same episode, now high: shared then, once
        high = alert_change("s1", severity="high", change="updated")
        assert await shares_after(high) == [("maldives", "automatic", "system")]
        assert await shares_after(high) == [("maldives", "automatic", "system")]
    finally:
        task.cancel()
        await stage.close()
