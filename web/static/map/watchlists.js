/* Watch lists: vessels of interest by MMSI, IMO, name or call sign, each entry with a reason
 * and who added it (GET /api/watchlists; officers add, remove and import CSV). The vessels
 * some entry names are marked on the map (a diamond frame) and in the vessel panel. */

import { api, apiText } from "./api.js";
import { config } from "./config.js";
import { byId } from "./dom.js";
import { esc, utc } from "./format.js";
import { store } from "./store.js";

const REFRESH_MS = 60000;

/** Returns {refresh(), open(prefill)}; onChange() after the marks changed. */
export function mountWatchlists({ onChange }) {
  const dialog = byId("watch-dialog"), body = byId("watch-body");
  let lists = [];

  function refresh() {
    return api("/api/watchlists/vessels").then((m) => {
      store.watched.clear();
      Object.keys(m).forEach((k) => store.watched.set(Number(k), m[k]));
      onChange();
    }).catch((e) => console.warn("watch lists:", e.message));
  }

  function open(prefill) {
    if (!dialog.open) dialog.showModal();
    return load(prefill);
  }
  function load(prefill) {
    return api("/api/watchlists").then((r) => { lists = r.watchlists; render(prefill || {}); });
  }

  function render(prefill) {
    const edit = !!config.can_acknowledge;
    let html = lists.length ? "" : '<p class="muted">No watch list yet.</p>';
    lists.forEach((w) => {
      html += '<section class="wl" data-list="' + w.id + '"><h4>' + esc(w.name) + ' <span class="muted">· ' + w.entries.length +
        " · by " + esc(w.created_by) + "</span></h4>" + (w.description ? "<p>" + esc(w.description) + "</p>" : "") +
        '<table><thead><tr><th>MMSI</th><th>IMO</th><th>Name</th><th>Call sign</th><th>Reason</th><th>Added</th><th></th></tr></thead><tbody>' +
        w.entries.map((e) => "<tr><td class=mono>" + (e.mmsi || "") + "</td><td class=mono>" + (e.imo || "") + "</td><td>" + esc(e.name || "") +
          "</td><td>" + esc(e.callsign || "") + "</td><td>" + esc(e.reason) + '</td><td class="muted">' + esc(e.added_by) + " · " +
          esc(utc(e.added_at).slice(0, 16)) + "</td><td>" + (edit ? '<button type="button" class="link" data-del="' + e.id +
          '" aria-label="Remove entry ' + e.id + '">Remove</button>' : "") + "</td></tr>").join("") + "</tbody></table></section>";
    });
    if (edit) {
      const opts = lists.map((w) => '<option value="' + w.id + '">' + esc(w.name) + "</option>").join("");
      html += '<details class="form" ' + (prefill.mmsi ? "open" : "") + '><summary>Add a vessel</summary>' +
        (lists.length ? '<label>List <select id="wl-list">' + opts + "</select></label>" +
        '<label>MMSI <input id="wl-mmsi" inputmode="numeric" value="' + esc(prefill.mmsi || "") + '"></label>' +
        '<label>IMO <input id="wl-imo" inputmode="numeric"></label><label>Name <input id="wl-name"></label>' +
        '<label>Call sign <input id="wl-callsign"></label><label>Reason <input id="wl-reason" maxlength="2000" required></label>' +
        '<button type="button" data-do="add">Add</button>' +
        '<label>Or import a CSV (header: mmsi, imo, name, callsign, reason) <input type="file" id="wl-csv" accept=".csv,text/csv"></label>' :
        '<p class="muted">Create a list first.</p>') + "</details>" +
        '<details class="form"><summary>New list</summary><label>Name <input id="wl-new-name" maxlength="100"></label>' +
        '<label>Description <input id="wl-new-desc" maxlength="2000"></label><button type="button" data-do="create">Create</button></details>';
    }
    html += '<p id="wl-error" class="error" hidden role="alert"></p>';
    body.innerHTML = html;
  }

  function fail(e) { const b = byId("wl-error"); if (b) { b.hidden = false; b.textContent = e.message; } }
  const val = (id) => { const e = byId(id); return e && e.value.trim() ? e.value.trim() : null; };

  body.addEventListener("click", (e) => {
    const del = e.target.getAttribute("data-del"), what = e.target.getAttribute("data-do");
    if (del) {
      const list = e.target.closest("[data-list]").getAttribute("data-list");
      api("/api/watchlists/" + list + "/entries/" + del, { method: "DELETE" }).then(() => load()).then(refresh).catch(fail);
    } else if (what === "add") {
      const entry = { mmsi: val("wl-mmsi") && Number(val("wl-mmsi")), imo: val("wl-imo") && Number(val("wl-imo")),
        name: val("wl-name"), callsign: val("wl-callsign"), reason: val("wl-reason") || "" };
      api("/api/watchlists/" + byId("wl-list").value + "/entries", { method: "POST", body: entry })
        .then(() => load()).then(refresh).catch(fail);
    } else if (what === "create") {
      api("/api/watchlists", { method: "POST", body: { name: val("wl-new-name") || "", description: val("wl-new-desc") } })
        .then(() => load()).catch(fail);
    }
  });
  body.addEventListener("change", (e) => {
    if (e.target.id !== "wl-csv" || !e.target.files.length) return;
    e.target.files[0].text().then((text) => apiText("/api/watchlists/" + byId("wl-list").value + "/import", text, "text/csv"))
      .then(() => load()).then(refresh).catch(fail);
  });
  byId("watch-close").addEventListener("click", () => dialog.close());
  setInterval(refresh, REFRESH_MS);
  return { refresh, open };
}
