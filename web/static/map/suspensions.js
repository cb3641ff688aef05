/* Rule suspensions on the desk: every suspension in force (a rule silenced for a vessel or
 * an area until a time, with who and why), each liftable by an officer and shown on the map
 * on request; a supervisor also sees the expired and lifted ones (GET /api/suspensions?all=
 * true). An officer suspends a rule for an area from here: the current view, or a box
 * drawn with two clicks on the map (Esc ends the drawing, and only it). The vessel panel
 * suspends a rule for one vessel. */

import { L } from "./leaflet.js";
import { api } from "./api.js";
import { kindLabel } from "./alerts.js";
import { config } from "./config.js";
import { byId, themeColor } from "./dom.js";
import { esc, utc } from "./format.js";

const REFRESH_MS = 30000;
const HOURS = [[1, "1 h"], [6, "6 h"], [24, "24 h"], [168, "7 days"], [720, "30 days"]];
const SUPERVISORS = ["supervisor", "admin"];

/** Returns {refresh(), consumesClick(), drawing(), area()}; onChange() after a suspension
 *  was made or lifted (the vessel panel shows its vessel's). */
export function mountSuspensions({ map, onChange }) {
  const toggle = byId("susp-toggle"), panel = byId("susp-panel");
  const edit = !!config.can_acknowledge, supervisor = SUPERVISORS.includes(config.role);
  const layer = L.layerGroup().addTo(map);
  let list = [], showAll = false, area = null, corner = null, drawing = false, timer = null;

  function refresh() {
    return api("/api/suspensions" + (showAll && supervisor ? "?all=true" : "")).then((r) => {
      list = r.suspensions;
      byId("susp-count").textContent = list.filter((s) => s.in_force).length;
      if (!panel.hidden) renderList();
    }).catch((e) => console.warn("suspensions:", e.message));
  }

  function boxText(s) {
    return [s.min_lat, s.min_lon, s.max_lat, s.max_lon].map((x) => Number(x).toFixed(2)).join(", ")
      .replace(/^([^,]+), ([^,]+), ([^,]+), ([^,]+)$/, "$1…$3°N, $2…$4°E");
  }
  function state(s) {
    if (s.lifted_at) return '<span class="badge">lifted</span> by ' + esc(s.lifted_by) + " " + esc(utc(s.lifted_at).slice(0, 16));
    if (!s.in_force) return Date.parse(s.until) <= Date.now() ? '<span class="badge">expired</span>' : '<span class="badge">not yet</span>';
    return "until " + esc(utc(s.until).slice(0, 16)) + "Z";
  }
  function renderList() {
    const rows = list.map((s) => {
      const what = s.mmsi != null ? esc(s.vessel_name || "MMSI " + s.mmsi) + ' <span class="mono muted">' + s.mmsi + "</span>" :
        "area " + esc(boxText(s));
      return '<li data-id="' + s.id + '"' + (s.in_force ? "" : ' class="past"') + "><b>" + esc(kindLabel(s.kind)) + "</b> · " + what +
        "<br>" + state(s) + ' · <span class="muted">' + esc(s.created_by) + ":</span> “" + esc(s.reason) + "”" +
        (s.mmsi == null ? ' <button type="button" class="link" data-act="show" data-id="' + s.id + '">Show</button>' : "") +
        (edit && s.in_force ? ' <button type="button" class="link" data-act="lift" data-id="' + s.id + '">Lift</button>' : "") + "</li>";
    });
    byId("susp-list").innerHTML = rows.length ? rows.join("") : '<li class="muted">No rule suspended.</li>';
  }

  function renderPanel() {
    const kinds = Array.isArray(config.kinds) ? config.kinds : [];
    panel.innerHTML = "<h3>Rules suspended" + (showAll ? " · all" : " · in force") + "</h3>" +
      (supervisor ? '<label class="small"><input type="checkbox" id="susp-all"' + (showAll ? " checked" : "") +
        "> also expired and lifted (supervisor)</label>" : "") +
      '<ul id="susp-list" class="susp"></ul>' +
      (edit ? '<details class="form" id="susp-area-form"><summary>Suspend a rule in an area…</summary>' +
        '<label>Rule <select id="susp-kind">' + kinds.map((k) => '<option value="' + esc(k.kind) + '">' + esc(k.label) + "</option>").join("") +
        '</select></label><label>For <select id="susp-hours">' +
        HOURS.map(([h, t]) => '<option value="' + h + '"' + (h === 24 ? " selected" : "") + ">" + t + "</option>").join("") + "</select></label>" +
        '<div class="row">Area: <button type="button" data-act="view">Current view</button> <button type="button" data-act="draw" aria-pressed="false">Draw a box</button></div>' +
        '<p id="susp-area" class="small num">none chosen</p>' +
        '<label>Reason <input id="susp-reason" maxlength="500" placeholder="e.g. fishing grounds, loitering is normal here"></label>' +
        '<button type="button" data-act="suspend">Suspend</button></details>' : "") +
      '<p id="susp-error" class="error" hidden role="alert"></p>';
    renderList();
  }

  function setArea(b) {
    const w = Math.max(-180, b.getWest()), e = Math.min(180, b.getEast());
    const s = Math.max(-90, b.getSouth()), n = Math.min(90, b.getNorth());
    area = [w, s, e, n];
    showBox(area);
    byId("susp-area").textContent = s.toFixed(3) + "…" + n.toFixed(3) + "°N, " + w.toFixed(3) + "…" + e.toFixed(3) + "°E";
  }
  function showBox([w, s, e, n], fit) {
    layer.clearLayers();
    const r = L.rectangle([[s, w], [n, e]], { color: themeColor("--measure") || "#f0c040", weight: 2, dashArray: "6 4", fill: false, interactive: false }).addTo(layer);
    if (fit) map.flyToBounds(r.getBounds(), { padding: [60, 60], duration: 0.6 });
  }

  function startDrawing() {
    drawing = true; corner = null;
    map.getContainer().classList.add("measuring");
    byId("susp-area").textContent = "click one corner of the box on the map, then the opposite one · Esc ends";
    panel.querySelector('[data-act="draw"]').setAttribute("aria-pressed", "true");
  }
  function stopDrawing() {
    drawing = false; corner = null;
    map.getContainer().classList.remove("measuring");
    const b = panel.querySelector('[data-act="draw"]'); if (b) b.setAttribute("aria-pressed", "false");
  }
  map.on("click", (e) => {
    if (!drawing) return;
    if (!corner) { corner = e.latlng; return; }
    setArea(L.latLngBounds(corner, e.latlng));
    stopDrawing();
  });
  map.on("mousemove", (e) => {
    if (drawing && corner) { const b = L.latLngBounds(corner, e.latlng); showBox([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]); }
  });
  // Esc ends the drawing and nothing else (capture phase, before the shortcuts).
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !drawing || document.querySelector("dialog[open]")) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;  // leaving the field comes first
    stopDrawing(); layer.clearLayers(); area = null; byId("susp-area").textContent = "none chosen";
    e.preventDefault();
  }, { capture: true });

  function fail(text) { const b = byId("susp-error"); if (b) { b.hidden = false; b.textContent = text; } }
  function done() { const b = byId("susp-error"); if (b) b.hidden = true; onChange(); return refresh(); }

  function suspend() {
    const reason = byId("susp-reason");
    if (!area) { fail("Choose the area: the current view, or draw a box."); return; }
    if (!reason.value.trim()) { reason.focus(); fail("Say why the rule is suspended."); return; }
    const body = { kind: byId("susp-kind").value, hours: Number(byId("susp-hours").value), reason: reason.value,
      bbox: area.map((x) => x.toFixed(5)).join(",") };
    api("/api/suspensions", { method: "POST", body }).then(() => {
      reason.value = ""; area = null; layer.clearLayers(); byId("susp-area").textContent = "none chosen";
      return done();
    }).catch((e) => fail("Not suspended: " + e.message));
  }

  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-pressed", String(!panel.hidden));
    if (panel.hidden) { stopDrawing(); layer.clearLayers(); clearInterval(timer); timer = null; return; }
    renderPanel(); refresh(); timer = setInterval(refresh, REFRESH_MS);
  });
  panel.addEventListener("change", (e) => {
    if (e.target.id === "susp-all") { showAll = e.target.checked; panel.querySelector("h3").textContent = "Rules suspended · " + (showAll ? "all" : "in force"); refresh(); }
  });
  panel.addEventListener("click", (e) => {
    const t = e.target.closest("[data-act]"); if (!t) return;
    const act = t.getAttribute("data-act"), id = Number(t.getAttribute("data-id"));
    if (act === "lift") api("/api/suspensions/" + id + "/lift", { method: "POST", body: {} }).then(done).catch((x) => fail("Not lifted: " + x.message));
    else if (act === "show") { const s = list.find((x) => x.id === id); if (s) showBox([s.min_lon, s.min_lat, s.max_lon, s.max_lat], true); }
    else if (act === "view") { stopDrawing(); setArea(map.getBounds()); }
    else if (act === "draw") { if (drawing) stopDrawing(); else startDrawing(); }
    else if (act === "suspend") suspend();
  });
  refresh();
  setInterval(refresh, 2 * REFRESH_MS);
  return { refresh, consumesClick: () => drawing, drawing: () => drawing, area: () => area };
}
