"""``mda user``, ``mda token`` and the demo's settings: accounts made from the command
line (through ``store.accounts``, nothing from ``web``) work in the web; times print in
UTC; the demo keeps its data apart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from web_support import BASE, make_settings, set_database_time_zone

from mda.settings import load_settings
from mda.store.accounts import create_token, create_user
from mda.web.app import create_app

pytestmark = pytest.mark.integration


def test_cli_user_add_and_token_create(migrated, tmp_path, monkeypatch, capsys):
    import io

    from mda.cli import main

    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
    assert (
        main(
            ["user", "--database", migrated, "add", "hana", "--role", "officer", "--password-stdin"]
        )
        == 0
    )
    assert "hana" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
    assert (
        main(
            ["user", "--database", migrated, "add", "hana", "--role", "officer", "--password-stdin"]
        )
        == 2
    )
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["token", "--database", migrated, "create", "--user", "hana", "--expires-days", "2"])
        == 0
    )
    token = capsys.readouterr().out.strip()
    assert token.startswith("mda_") and len(token) > 40
    assert (
        main(["token", "--database", migrated, "create", "--role", "viewer", "--owner", "grafana"])
        == 0
    )
    viewer_token = capsys.readouterr().out.strip()
    assert (  # a machine account that must never expire says so explicitly
        main(
            ["token", "--database", migrated, "create", "--role", "viewer", "--owner", "ais-relay"]
            + ["--no-expiry"]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["token", "--database", migrated, "list"]) == 0
    listing = capsys.readouterr().out
    assert "hana" in listing and "grafana" in listing and token not in listing

    with psycopg.connect(migrated) as conn:
        rows = conn.execute(
            "SELECT owner, role, expires_at IS NOT NULL FROM api_tokens ORDER BY id"
        ).fetchall()
        # tokens expire by default (token_expiry_days); only --no-expiry makes one that does not
        assert rows == [
            ("hana", "officer", True),
            ("grafana", "viewer", True),
            ("ais-relay", "viewer", False),
        ]
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
        assert actions == ["user.create", "token.create", "token.create", "token.create"]

    async def use() -> tuple[int, int]:
        app = create_app(make_settings(tmp_path), migrated)
        async with (
            LifespanManager(app) as m,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=m.app), base_url=BASE) as client,
        ):
            a = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            b = await client.post(
                "/api/alerts/1/ack", headers={"Authorization": f"Bearer {viewer_token}"}
            )
            return a.json()["role"], b.status_code

    assert asyncio.run(use()) == ("officer", 403)


def test_cli_prints_utc_whatever_the_database_time_zone(migrated, tmp_path, monkeypatch, capsys):
    from mda.cli import main

    set_database_time_zone(migrated, "Asia/Kolkata")  # UTC+05:30
    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))
    expires = datetime(2031, 1, 2, 3, 4, tzinfo=UTC)

    async def make() -> None:
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as c:
            await create_token(c, "grafana", "viewer", expires)
            await c.execute(
                "UPDATE api_tokens SET last_used_at = %s",
                (datetime(2030, 12, 31, 22, 0, tzinfo=UTC),),
            )
            await create_user(c, "night", "correct horse", "viewer")
            await c.execute(
                "UPDATE users SET created_at = %s",
                (datetime(2030, 12, 31, 22, 0, tzinfo=UTC),),
            )

    asyncio.run(make())
    assert main(["token", "--database", migrated, "list"]) == 0
    out = capsys.readouterr().out
    assert "expires 2031-01-02 03:04Z" in out and "last used 2030-12-31 22:00Z" in out, out
    assert main(["user", "--database", migrated, "list"]) == 0
    out = capsys.readouterr().out
    assert "since 2030-12-31" in out, out  # 2031-01-01 03:30 in Kolkata


def test_mda_demo_keeps_its_data_in_a_demo_subdirectory(tmp_path, monkeypatch):
    from mda.cli import build_parser
    from mda.commands.demo import demo_settings

    parser = build_parser()
    prod = load_settings(environ={"MDA_DATA_DIR": str(tmp_path / "prod")})
    s = demo_settings(parser.parse_args(["demo"]), prod)
    assert s.data_path == tmp_path / "prod" / "demo"
    assert len(s.demo_token) >= 16  # a fresh token, passed on to the web app
    assert demo_settings(parser.parse_args(["demo"]), prod).demo_token != s.demo_token
    # the built-in default data directory gets the suffix too
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = demo_settings(parser.parse_args(["demo"]), load_settings(environ={}))
    assert default.data_path == load_settings(environ={}).data_path / "demo"
    assert default.data_path != load_settings(environ={}).data_path
    # --data-dir is used as given
    s = demo_settings(parser.parse_args(["demo", "--data-dir", str(tmp_path / "mine")]), prod)
    assert s.data_path == tmp_path / "mine"
    # a configured demo token is kept
    preset = load_settings(environ={"MDA_DEMO_TOKEN": "preset-demo-token-0123456789"})
    assert (
        demo_settings(parser.parse_args(["demo"]), preset).demo_token
        == "preset-demo-token-0123456789"
    )


def test_cli_account_rules_are_one_line_errors(migrated, tmp_path, monkeypatch, capsys):
    """The rules of ``store.accounts`` (its ``AccountError``s, under the store's root) reach
    the command line as its one-line errors, exit code 2; revoking is audited."""
    import io

    from mda.cli import main

    monkeypatch.setenv("MDA_DATA_DIR", str(tmp_path / "data"))

    def run(*argv: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main([argv[0], "--database", migrated, *argv[1:]])
        return code, capsys.readouterr().err.strip()

    assert run("user", "add", "kim", "--role", "viewer", "--password-stdin", stdin="short\n") == (
        2,
        "mda: error: a password needs at least 8 characters",
    )
    assert run(
        "user", "add", "kim lee", "--role", "viewer", "--password-stdin", stdin="long enough\n"
    ) == (2, "mda: error: a user name is 1-64 letters, digits or . _ @ - (no spaces)")
    assert (
        run("user", "add", "kim", "--role", "viewer", "--password-stdin", stdin="long enough\n")[0]
        == 0
    )
    assert run("token", "create", "--user", "kim", "--role-limit", "officer") == (
        2,
        "mda: error: user kim is viewer; a token cannot carry officer",
    )
    assert run("token", "revoke", "999") == (2, "mda: error: no active token 999")
    assert run("token", "create", "--role", "viewer")[0] == 0
    assert run("token", "revoke", "1")[0] == 0
    with psycopg.connect(migrated) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["user.create", "token.create", "token.revoke"]
