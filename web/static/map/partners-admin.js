/* Partner management for admins (docs/partners.md): a "Partners" button opens a dialog
 * listing the partners (name, country, policy, enabled, key fingerprint) from
 * GET /api/partners, with a form to add one (POST /api/partners: its API token is shown
 * once, here, to copy), to edit a policy (PATCH /api/partners/{name}), to put its public
 * key (PUT /api/partners/{name}/key) and to disable it (POST .../disable, asked twice).
 * Only an admin's page has the button; the API refuses everyone else (403). */

import { api } from "./api.js";
import { kindLabel } from "./alerts.js";
import { config } from "./config.js";
import { countryFlag } from "./desk.js";
import { el } from "./dom.js";
import { esc } from "./format.js";

const SEVERITIES = ["critical", "high", "medium", "low"];

/** Mounted on every page; does nothing unless the user is an admin. ``container``: where
 *  its button goes (the partner controls on the map). */
export function mountPartnersAdmin({ container }) {
  if (config.role !== "admin") return null;
  const kinds = (Array.isArray(config.kinds) ? config.kinds : []).map((k) => k.kind);
  const toggle = el("button", { id: "partners-toggle", class: "tool", type: "button",
    title: "Partner agencies, their sharing policies, keys and tokens (admin)" },
  '<span aria-hidden="true">⚙</span> Partners');
  container.appendChild(toggle);
  const dialog = el("dialog", { id: "partners-dialog", class: "wide", "aria-labelledby": "partners-title" });
  dialog.innerHTML = '<header class="dialog-head"><h3 id="partners-title">Partners</h3>' +
    '<button type="button" class="close" id="partners-close" aria-label="Close">×</button></header>' +
    '<div id="partners-token" class="token-box" hidden></div>' +
    '<p id="partners-error" class="bad" role="alert" hidden></p>' +
    '<table id="partners-table"><thead><tr><th>Partner</th><th>Country</th><th>Policy</th><th>State</th>' +
    "<th>Signing key</th><th></th></tr></thead><tbody></tbody></table>" +
    '<details id="partners-add"><summary>Add a partner</summary><form id="partners-add-form">' +
    '<label>Name <input name="name" required maxlength="64" pattern="[A-Za-z0-9._\\-]{1,64}" placeholder="srilanka"></label>' +
    '<label>Country <input name="country" required maxlength="2" pattern="[A-Za-z]{2}" placeholder="LK" size="3"></label>' +
    policyFields(kinds, { kinds: [], min_severity: "low", automatic: false, area: null }) +
    '<label class="wide">Its public key (PEM, from its <code>mda keys show</code>; optional) <textarea name="public_key" rows="3"></textarea></label>' +
    '<button type="submit">Add partner</button></form></details>';
  document.body.appendChild(dialog);
  const tbody = dialog.querySelector("#partners-table tbody");
  const error = dialog.querySelector("#partners-error"), tokenBox = dialog.querySelector("#partners-token");
  let partners = [], editing = null, disarming = null;

  function fail(e) { error.hidden = false; error.textContent = e.message || String(e); }
  function ok() { error.hidden = true; }

  function load() {
    return api("/api/partners").then((body) => { partners = body.partners; render(); }).catch(fail);
  }

  function policyText(p) {
    const k = p.kinds && p.kinds.length ? p.kinds.map(kindLabel).join(", ") : "every kind";
    return esc(k) + " · " + esc(p.min_severity) + " and above" + (p.area ? " · in its area" : "") + " · " +
      (p.automatic ? "<b>automatic</b>" : "by hand");
  }

  function render() {
    tbody.innerHTML = partners.map((p) => {
      const fp = p.key_fingerprint;
      const row = '<tr data-name="' + esc(p.name) + '" class="' + (p.disabled ? "disabled" : "") + '">' +
        "<td><b>" + esc(p.name) + "</b></td><td>" + (countryFlag(p.country) || "") + " " + esc(p.country) + "</td>" +
        '<td class="policy">' + policyText(p) + "</td>" +
        '<td class="state">' + (p.disabled ? "disabled" + (p.disabled_by ? " by " + esc(p.disabled_by) : "") : "enabled") + "</td>" +
        '<td class="key mono" title="' + esc(fp || "no key on record: its events and extracts are refused") + '">' +
        (fp ? esc(fp.slice(0, 19)) + "…" : '<span class="muted">none</span>') + "</td>" +
        '<td class="acts">' + (p.disabled ? "" : '<button type="button" data-act="edit">Edit…</button>' +
          '<button type="button" data-act="disable" class="danger">' + (disarming === p.name ? "Confirm disable" : "Disable…") + "</button>") +
        "</td></tr>";
      if (editing !== p.name) return row;
      return row + '<tr class="edit-row"><td colspan="6"><form class="partners-edit" data-name="' + esc(p.name) + '">' +
        policyFields(kinds, p) +
        '<label class="wide">Public key (PEM; empty: keep ' + (fp ? esc(fp.slice(0, 19)) + "…" : "none") + ') <textarea name="public_key" rows="3"></textarea></label>' +
        '<button type="submit">Save</button> <button type="button" data-act="cancel">Cancel</button></form></td></tr>';
    }).join("") || '<tr><td colspan="6" class="muted">No partner yet.</td></tr>';
  }

  function policyBody(form) {
    const f = form.elements;
    const body = {
      kinds: [...form.querySelectorAll('input[name="kind"]:checked')].map((c) => c.value),
      min_severity: f.min_severity.value,
      automatic: f.automatic.checked
    };
    const area = f.area.value.trim();
    body.area = area ? JSON.parse(area) : null;
    return body;
  }

  tbody.addEventListener("click", (e) => {
    const b = e.target.closest("button"); if (!b) return;
    const tr = b.closest("tr[data-name]") || b.closest("tr").previousElementSibling;
    const name = tr && tr.getAttribute("data-name");
    const act = b.getAttribute("data-act");
    if (act === "edit") { editing = editing === name ? null : name; disarming = null; render(); }
    else if (act === "cancel") { editing = null; render(); }
    else if (act === "disable") {
      if (disarming !== name) { disarming = name; render(); return; }
      disarming = null;
      api("/api/partners/" + encodeURIComponent(name) + "/disable", { method: "POST" })
        .then(() => { ok(); return load(); }).catch(fail);
    }
  });
  tbody.addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target, name = form.getAttribute("data-name");
    let body;
    try { body = policyBody(form); } catch (err) { fail(new Error("Area: not GeoJSON (" + err.message + ")")); return; }
    const key = form.elements.public_key.value.trim();
    const url = "/api/partners/" + encodeURIComponent(name);
    api(url, { method: "PATCH", body })
      .then(() => key ? api(url + "/key", { method: "PUT", body: { public_key: key } }) : null)
      .then(() => { ok(); editing = null; return load(); }).catch(fail);
  });

  dialog.querySelector("#partners-add-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target, f = form.elements;
    let body;
    try { body = policyBody(form); } catch (err) { fail(new Error("Area: not GeoJSON (" + err.message + ")")); return; }
    body.name = f.name.value.trim();
    body.country = f.country.value.trim().toUpperCase();
    if (f.public_key.value.trim()) body.public_key = f.public_key.value.trim();
    if (body.area === null) delete body.area;
    api("/api/partners", { method: "POST", body }).then((r) => {
      ok(); form.reset(); dialog.querySelector("#partners-add").open = false;
      showToken(r.partner.name, r.token);
      return load();
    }).catch(fail);
  });

  // The token is shown once: here, until the dialog closes; never stored in the page.
  function showToken(name, token) {
    tokenBox.hidden = false;
    tokenBox.innerHTML = "<b>API token of partner " + esc(name) + "</b>: shown once, copy it now and give it " +
      'to the partner by a channel you trust.<br><code id="partners-token-value" class="mono"></code> ' +
      '<button type="button" id="partners-token-copy">Copy</button>';
    tokenBox.querySelector("#partners-token-value").textContent = token;
    tokenBox.querySelector("#partners-token-copy").addEventListener("click", () => {
      if (navigator.clipboard) navigator.clipboard.writeText(token).catch(() => {});
    });
  }
  function hideToken() { tokenBox.hidden = true; tokenBox.innerHTML = ""; }

  toggle.addEventListener("click", () => { ok(); hideToken(); editing = null; disarming = null; dialog.showModal(); load(); });
  dialog.querySelector("#partners-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", hideToken);
  return { load, partners: () => partners.slice() };
}

function policyFields(kinds, p) {
  const on = new Set(p.kinds || []);
  return '<fieldset class="kinds"><legend>Alert kinds (none ticked: every kind)</legend>' +
    kinds.map((k) => '<label><input type="checkbox" name="kind" value="' + esc(k) + '"' + (on.has(k) ? " checked" : "") +
      "> " + esc(kindLabel(k)) + "</label>").join("") + "</fieldset>" +
    '<label>Lowest severity <select name="min_severity">' + SEVERITIES.map((s) =>
      '<option value="' + s + '"' + (s === p.min_severity ? " selected" : "") + ">" + s + "</option>").join("") + "</select></label>" +
    '<label><input type="checkbox" name="automatic"' + (p.automatic ? " checked" : "") +
      "> share matching alerts automatically (else only when an officer shares them)</label>" +
    '<label class="wide">Area (GeoJSON Polygon, lon/lat; empty: anywhere) <textarea name="area" rows="2">' +
      (p.area ? esc(JSON.stringify(p.area)) : "") + "</textarea></label>";
}

