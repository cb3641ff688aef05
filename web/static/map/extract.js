/* Incident extracts from the desk (officers and above): an "Extract" button on each alert
 * card downloads the alert's signed BagIt ZIP (GET /api/alerts/{id}/extract, audited), and
 * "Extracts" lists under the card the extracts made of it, who made them and when, with
 * each ZIP's SHA-256 (GET /api/alerts/{id}/extracts). Added to the cards with
 * desk.addAction; the list is kept here and put back whenever the desk rebuilds a card. */

import { isPartnerAlert } from "./alerts.js";
import { ApiError, api, toLogin } from "./api.js";
import { esc, utc } from "./format.js";

const lists = new Map();  // alert id -> extracts made of it (once loaded)
const open = new Set();   // alert ids whose list is shown
const busy = new Set();   // alert ids with an extract under way

/** deps: desk (addAction, toast), canExtract (the officer role). */
export function mountExtract({ desk, canExtract }) {
  if (!canExtract) return;
  addStyle();

  desk.addAction((a, actions) => {
    if (isPartnerAlert(a)) return;  // a partner's alert: its extract is the partner's to make
    actions.appendChild(button(busy.has(a.id) ? "Extracting…" : "Extract", "extract",
      "Download the signed incident extract (ZIP) of this alert", () => download(a), busy.has(a.id)));
    actions.appendChild(button(open.has(a.id) ? "Extracts ▾" : "Extracts ▸", "extracts",
      "Extracts made of this alert", () => toggle(a.id)));
    if (open.has(a.id)) actions.appendChild(listElement(a.id));
  });

  function button(text, act, label, onClick, disabled) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = "extract-" + act;
    b.setAttribute("aria-label", label); b.disabled = !!disabled;
    b.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
    return b;
  }

  // The card's actions are rebuilt by the desk only when they change: redraw ours in place.
  function refreshCard(id) {
    const actions = document.querySelector('#alerts .alert[data-id="' + id + '"] .actions');
    if (!actions) return;
    const b = actions.querySelector(".extract-extract");
    if (b) { b.disabled = busy.has(id); b.textContent = busy.has(id) ? "Extracting…" : "Extract"; }
    const t = actions.querySelector(".extract-extracts");
    if (t) t.textContent = open.has(id) ? "Extracts ▾" : "Extracts ▸";
    const old = actions.querySelector(".extract-list");
    if (old) old.remove();
    if (open.has(id)) actions.appendChild(listElement(id));
  }

  function listElement(id) {
    const div = document.createElement("div");
    div.className = "extract-list";
    const rows = lists.get(id);
    if (!rows) div.textContent = "Loading extracts…";
    else if (!rows.length) div.textContent = "No extract made of this alert yet.";
    else {
      div.innerHTML = "<b>Extracts</b>" + rows.map((x) =>
        '<div class="extract-row" title="' + esc("SHA-256 " + (x.sha256 || "")) + '">' + esc(utc(x.time)) +
        " · " + esc(x.actor) + (x.role ? " (" + esc(x.role) + ")" : "") +
        ' · <span class="mono">' + esc(x.file || "") + "</span> · SHA-256 " +
        '<span class="mono">' + esc((x.sha256 || "").slice(0, 12)) + "…</span></div>").join("");
    }
    return div;
  }

  function load(id) {
    return api("/api/alerts/" + id + "/extracts")
      .then((body) => { lists.set(id, body.extracts); refreshCard(id); })
      .catch((e) => { lists.set(id, []); refreshCard(id); desk.toast("Extracts: " + e.message); });
  }

  function toggle(id) {
    if (open.has(id)) open.delete(id); else { open.add(id); load(id); }
    refreshCard(id);
  }

  function download(a) {
    if (busy.has(a.id)) return;
    busy.add(a.id); refreshCard(a.id);
    fetch("/api/alerts/" + a.id + "/extract", { credentials: "same-origin" })
      .then((r) => {
        if (r.status === 401) { toLogin(); throw new ApiError(401, "unauthorized", "logged out"); }
        if (!r.ok) {
          return r.json().catch(() => ({})).then((body) => {
            const e = body.error || {};
            throw new ApiError(r.status, e.code || "http", e.message || "HTTP " + r.status);
          });
        }
        const m = /filename="?([^";]+)"?/.exec(r.headers.get("content-disposition") || "");
        return r.blob().then((blob) => save(blob, m ? m[1] : "mda-alert-" + a.id + ".zip"));
      })
      .then(() => { open.add(a.id); return load(a.id); })
      .catch((e) => desk.toast("Extract failed: " + e.message))
      .finally(() => { busy.delete(a.id); refreshCard(a.id); });
  }
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url; link.download = name; link.hidden = true;
  document.body.appendChild(link); link.click(); link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function addStyle() {
  if (document.getElementById("mda-extract-style")) return;
  const s = document.createElement("style");
  s.id = "mda-extract-style";
  s.textContent = "#alerts .extract-list { flex-basis: 100%; width: 100%; margin-top: 4px; font-size: 11px; " +
    "line-height: 1.45; opacity: .85; }\n#alerts .extract-list .mono { font-family: ui-monospace, monospace; }";
  document.head.appendChild(s);
}
