"""Partner management on the map page in Chromium (the map served by uvicorn, every
request leaving 127.0.0.1 aborted): an admin's page has a "Partners" dialog listing the
partners (name, country, policy, state, key fingerprint), adds one (its token shown once),
edits a policy and disables a partner, each change as the API and the database see it. An
officer's page has no such button, and the admin routes refuse the officer's session
(403) even when called by hand."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_web_browser import Page, _ready, browser, serve, stop  # noqa: F401

from mda.exchange.signing import partner_key, public_pem
from mda.store.accounts import create_user
from mda.store.db import connect
from mda.store.partners import add_partner

KEY = partner_key(public_pem(Ed25519PrivateKey.generate()))


async def _seed(db_url: str) -> None:
    async with await connect(db_url, autocommit=True) as c:
        await create_user(c, "root", "correct horse", "admin")
        await add_partner(c, "srilanka", "LK", kinds=["encounter"], automatic=False, public_key=KEY)


def _login(p, url: str, name: str) -> None:
    p.goto(url + "/")
    p.fill("#username", name)
    p.fill("#password", "correct horse")
    p.click("button[type=submit]")
    p.wait_for_url(url + "/")
    _ready(p)


CALL = """([method, path, body]) => fetch(path, {method, credentials: "same-origin",
  headers: {"Content-Type": "application/json",
            "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
  body: body ? JSON.stringify(body) : undefined}).then((r) => r.status)"""


def test_admins_manage_partners_on_the_map_and_officers_cannot(db_url, tmp_path, browser):  # noqa: F811
    s = serve(db_url, tmp_path, 10)
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        pool.submit(asyncio.run, _seed(db_url)).result()

    officer = Page(browser)
    try:
        p = officer.page
        _login(p, s.url, "alice")
        assert p.query_selector("#partners-toggle") is None
        assert p.query_selector("#partners-dialog") is None
        for method, path, body in (
            ("POST", "/api/partners", {"name": "rogue", "country": "XX"}),
            ("PATCH", "/api/partners/srilanka", {"min_severity": "critical"}),
            ("POST", "/api/partners/srilanka/disable", None),
            ("PUT", "/api/partners/srilanka/key", {"public_key": KEY[0]}),
        ):
            assert p.evaluate(CALL, [method, path, body]) == 403, (method, path)
        assert s.sql("SELECT name, min_severity, disabled FROM partners") == [
            ("srilanka", "low", False)
        ]
        assert officer.offsite == [] and [e for e in officer.errors if "403" not in e] == []
    finally:
        officer.close()

    admin = Page(browser)
    try:
        p = admin.page
        _login(p, s.url, "root")
        p.click("#partners-toggle")
        row = '#partners-table tr[data-name="srilanka"]'
        p.wait_for_selector(row)
        text = p.inner_text(row)
        assert "LK" in text and "Encounter" in text and "by hand" in text and "enabled" in text
        assert p.get_attribute(f"{row} .key", "title") == KEY[1]

        # add: the token is shown once
        p.click("#partners-add summary")
        form = "#partners-add-form"
        p.fill(f"{form} input[name=name]", "maldives")
        p.fill(f"{form} input[name=country]", "mv")
        p.check(f'{form} input[name=kind][value="loitering"]')
        p.select_option(f"{form} select[name=min_severity]", "high")
        p.click(f"{form} button[type=submit]")
        p.wait_for_selector("#partners-token:not([hidden])")
        token = p.inner_text("#partners-token-value")
        assert token.startswith("mda_") and len(token) > 20
        p.wait_for_selector('#partners-table tr[data-name="maldives"]')
        [(kinds, sev, auto, creator)] = s.sql(
            "SELECT kinds, min_severity, automatic, created_by FROM partners WHERE name = 'maldives'"
        )
        assert (kinds, sev, auto, creator) == (["loitering"], "high", False, "root")
        assert s.sql("SELECT role, owner FROM api_tokens WHERE owner = 'maldives'") == [
            ("partner", "maldives")
        ]

        # edit a policy
        p.click(f'{row} button[data-act="edit"]')
        edit = 'form.partners-edit[data-name="srilanka"]'
        p.wait_for_selector(edit)
        p.select_option(f"{edit} select[name=min_severity]", "medium")
        p.check(f"{edit} input[name=automatic]")
        p.click(f"{edit} button[type=submit]")
        p.wait_for_function(
            "() => { const r = document.querySelector('#partners-table tr[data-name=\"srilanka\"] .policy');"
            " return r && r.textContent.includes('medium and above'); }"
        )
        assert "automatic" in p.inner_text(f"{row} .policy")
        assert s.sql("SELECT min_severity, automatic FROM partners WHERE name = 'srilanka'") == [
            ("medium", True)
        ]
        assert s.sql(
            "SELECT actor, details->'after'->>'min_severity' FROM audit_log "
            "WHERE action = 'partner.policy'"
        ) == [("root", "medium")]

        # disable, asked twice
        p.click(f'{row} button[data-act="disable"]')
        assert p.inner_text(f'{row} button[data-act="disable"]') == "Confirm disable"
        p.click(f'{row} button[data-act="disable"]')
        p.wait_for_function(
            "() => document.querySelector('#partners-table tr[data-name=\"srilanka\"] .state')"
            ".textContent.startsWith('disabled')"
        )
        assert s.sql("SELECT disabled, disabled_by FROM partners WHERE name = 'srilanka'") == [
            (True, "root")
        ]
        p.click("#partners-close")
        p.click("#partners-toggle")  # the token is not shown again
        p.wait_for_selector('#partners-table tr[data-name="maldives"]')
        assert p.is_hidden("#partners-token")
        admin.shot("partners-panel")
        assert admin.offsite == [] and admin.errors == []
    finally:
        admin.close()
        stop(s)
