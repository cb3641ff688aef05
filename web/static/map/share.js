/* Sharing with partners from the desk (officers and above; docs/partners.md): a "Share"
 * button on each alert card opens, under the card, with whom the alert was shared
 * (GET /api/alerts/{id}/shares: partner, by hand or by policy, who, when) and a form:
 * the enabled partners to tick, "with its signed extract", and "Share"
 * (POST /api/alerts/{id}/share; a refusal, such as an alert outside a partner's policy,
 * is shown as the server words it). Added to the cards with desk.addAction. */

import { api } from "./api.js";
import { esc, utc } from "./format.js";

const shares = new Map();  // alert id -> its share log rows (once loaded)
const open = new Set();    // alert ids whose panel is shown
const busy = new Set();    // alert ids with a share under way
let partners = null;       // enabled partners, loaded once

/** deps: desk (addAction, toast), canShare (the officer role). */
export function mountShare({ desk, canShare }) {
  if (!canShare) return;
  addStyle();

  desk.addAction((a, actions) => {
    if (a.details && a.details.origin) return;  // a partner's alert: not ours to pass on
    const b = document.createElement("button");
    b.type = "button"; b.className = "share-toggle";
    b.textContent = open.has(a.id) ? "Share ▾" : "Share ▸";
    b.setAttribute("aria-label", "Share this alert with partners");
    b.addEventListener("click", (e) => { e.stopPropagation(); toggle(a.id); });
    actions.appendChild(b);
    if (open.has(a.id)) actions.appendChild(panel(a.id));
  });

  function refreshCard(id) {
    const actions = document.querySelector('#alerts .alert[data-id="' + id + '"] .actions');
    if (!actions) return;
    const t = actions.querySelector(".share-toggle");
    if (t) t.textContent = open.has(id) ? "Share ▾" : "Share ▸";
    const old = actions.querySelector(".share-panel");
    if (old) old.remove();
    if (open.has(id)) actions.appendChild(panel(id));
  }

  function panel(id) {
    const div = document.createElement("div");
    div.className = "share-panel";
    div.addEventListener("click", (e) => e.stopPropagation());
    const rows = shares.get(id);
    const list = document.createElement("div");
    list.className = "share-list";
    if (!rows) list.textContent = "Loading…";
    else if (!rows.length) list.textContent = "Not shared with any partner yet.";
    else {
      list.innerHTML = "<b>Shared with</b>" + rows.map((s) =>
        '<div class="share-row" title="' + esc("share log row " + s.id + ", SHA-256 " + s.sha256) + '">' +
        esc(s.partner) + " · " + (s.mode === "automatic" ? "by its policy" : "by " + esc(s.actor)) +
        " · " + esc(utc(s.time)) + (s.extract_sha256 ? ' · extract <span class="mono">' +
        esc(s.extract_sha256.slice(0, 12)) + "…</span>" : "") + "</div>").join("");
    }
    div.appendChild(list);
    if (partners && partners.length) {
      const form = document.createElement("div");
      form.className = "share-form";
      form.innerHTML = partners.map((p) =>
        '<label><input type="checkbox" class="share-partner" value="' + esc(p.name) + '"> ' +
        esc(p.name) + " (" + esc(p.country) + ")</label>").join("") +
        '<label><input type="checkbox" class="share-extract"> with its signed extract</label>';
      const go = document.createElement("button");
      go.type = "button"; go.className = "share-send";
      go.textContent = busy.has(id) ? "Sharing…" : "Share"; go.disabled = busy.has(id);
      go.addEventListener("click", () => send(id, div));
      form.appendChild(go);
      div.appendChild(form);
    } else if (partners) {
      div.appendChild(document.createTextNode("No partner to share with (mda partner add)."));
    }
    return div;
  }

  function load(id) {
    const first = partners ? Promise.resolve() : api("/api/partners")
      .then((body) => { partners = body.partners.filter((p) => !p.disabled); });
    return first
      .then(() => api("/api/alerts/" + id + "/shares"))
      .then((body) => { shares.set(id, body.shares); refreshCard(id); })
      .catch((e) => { shares.set(id, []); refreshCard(id); desk.toast("Sharing: " + e.message); });
  }

  function toggle(id) {
    if (open.has(id)) open.delete(id); else { open.add(id); load(id); }
    refreshCard(id);
  }

  function send(id, div) {
    const names = [...div.querySelectorAll(".share-partner:checked")].map((c) => c.value);
    if (!names.length) { desk.toast("Tick the partners to share with."); return; }
    const extract = div.querySelector(".share-extract").checked;
    busy.add(id); refreshCard(id);
    api("/api/alerts/" + id + "/share", { method: "POST", body: { partners: names, extract } })
      .then(() => load(id))
      .catch((e) => desk.toast("Share refused: " + e.message))
      .finally(() => { busy.delete(id); refreshCard(id); });
  }
}

function addStyle() {
  if (document.getElementById("mda-share-style")) return;
  const s = document.createElement("style");
  s.id = "mda-share-style";
  s.textContent = "#alerts .share-panel { flex-basis: 100%; width: 100%; margin-top: 4px; font-size: 11px; " +
    "line-height: 1.45; }\n#alerts .share-panel .mono { font-family: ui-monospace, monospace; }\n" +
    "#alerts .share-form label { display: inline-block; margin-right: 8px; }";
  document.head.appendChild(s);
}
