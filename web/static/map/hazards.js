/* Hazard areas and search-and-rescue assist on the map (docs/hazards.md).
 *
 * The hazards in force (GET /api/hazards: cyclone warnings read from CAP, oil spills, areas
 * an officer added) are drawn as polygons coloured by severity, with their validity. The
 * "Hazards" panel lists them; choosing one lists its vessels at risk, inside first then by
 * expected time of entry (GET /api/hazards/{id}/vessels), rings them on the map, and offers
 * the list as CSV and the hazard as CAP 1.2 for partners. An officer imports a CAP alert,
 * ends a hazard, or shares it and its vessels at risk with partners ("Share with…": with
 * whom it was shared, GET /api/hazards/{id}/shares, and the enabled partners to tick,
 * POST /api/hazards/{id}/share) from here. A hazard awaiting confirmation (a large CAP
 * warning from MQTT) is drawn faint and says so; a supervisor confirms it
 * (POST /api/hazards/{id}/confirm). "Nearest vessels" arms one click on the map: the vessels
 * ranked by time to reach that point (GET /api/sar/nearest), with type, length and when last
 * heard (stale ones flagged), each with a line to it. Refreshed every 30 s. Creates its own
 * panel and styles: the page only holds the toggle button. */

import { L } from "./leaflet.js";
import { api, apiText } from "./api.js";
import { config } from "./config.js";
import { byId, el } from "./dom.js";
import { esc, hhmm, utc } from "./format.js";

const REFRESH_MS = 30000;
const COLOURS = { critical: "#e0314b", high: "#f08c00", medium: "#e6c700", low: "#4c9be8" };
const CSS = `
#hazards-panel { position: absolute; left: 60px; top: 10px; z-index: 945; width: 360px; max-height: calc(100% - 80px);
  overflow: auto; padding: 8px 10px; font-size: 12px; }
#hazards-panel h3 { display: flex; justify-content: space-between; align-items: center; margin: 0 0 6px; }
#hazards-panel ul.hz { list-style: none; margin: 0 0 6px; padding: 0; }
#hazards-panel ul.hz li { padding: 4px 2px; border-top: 1px solid var(--line); cursor: pointer; }
#hazards-panel ul.hz li.sel { background: color-mix(in srgb, var(--accent, #4c9be8) 18%, transparent); }
#hazards-panel .sev { display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 5px; }
#hazards-panel table { border-collapse: collapse; width: 100%; }
#hazards-panel th, #hazards-panel td { text-align: left; padding: 2px 4px; border-top: 1px solid var(--line); font-weight: normal; }
#hazards-panel td.num, #hazards-panel th.num { text-align: right; font-variant-numeric: tabular-nums; }
#hazards-panel tr.inside td:first-child { color: var(--alarm, #e0314b); font-weight: 700; }
#hazards-panel tbody tr { cursor: pointer; }
#hazards-panel tr.stale td { opacity: 0.7; }
#hazards-panel .row { display: flex; gap: 6px; flex-wrap: wrap; align-items: center; margin: 6px 0; }
#hazards-panel .error { color: var(--alarm, #e0314b); }
#hazards-panel #hazard-share { margin: 4px 0 8px; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; }
#hazards-panel #hazard-share label { display: inline-block; margin-right: 8px; }
#hazards-panel .share-row { color: var(--muted, #888); }
.sar-armed #map { cursor: crosshair; }
`;

// the AIS ship type as a rescue centre reads it (ITU-R M.1371 table 53), as the printable page
const TYPES = { 30: "fishing", 31: "towing", 32: "towing", 33: "dredging", 34: "diving", 35: "military", 36: "sailing",
  37: "pleasure craft", 50: "pilot", 51: "SAR", 52: "tug", 53: "port tender", 55: "law enforcement", 58: "medical" };
const TYPE_TENS = { 2: "WIG", 4: "high-speed craft", 6: "passenger", 7: "cargo", 8: "tanker" };
function typeLabel(t) {
  if (t == null) return "type unknown";
  return TYPES[t] || (TYPE_TENS[Math.floor(t / 10)] || "other") + " (" + t + ")";
}
function ago(min) {
  if (min == null) return "";
  if (min < 1) return "now";
  return min < 90 ? Math.round(min) + " min ago" : Math.round(min / 60) + " h ago";
}

function sevDot(s) { return '<span class="sev" style="background:' + (COLOURS[s] || COLOURS.high) + '"></span>'; }

function until(h) {
  const p = h.properties;
  if (p.state === "awaiting_confirmation") return "awaiting confirmation";
  if (p.state === "pending") return "from " + utc(p.onset).slice(0, 16) + "Z";
  return p.expires ? "until " + utc(p.expires).slice(0, 16) + "Z" : "until ended";
}

function inHours(iso) {
  const m = Math.round((Date.parse(iso) - Date.now()) / 60000);
  if (m <= 0) return "now";
  return "in " + (m >= 60 ? Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min" : m + " min");
}

/** Returns {refresh(), consumesClick(), select(id), nearest(lat, lon), hazards(), atRisk(),
 *  responders()}; onVessel(mmsi) when a vessel is picked from a list. */
export function mountHazards({ map, onVessel }) {
  document.head.appendChild(el("style", null, CSS));
  const toggle = byId("hazards-toggle");
  const panel = el("section", { id: "hazards-panel", class: "panel", hidden: "", "aria-label": "Hazard areas and search and rescue" });
  byId("map-wrap").appendChild(panel);
  const officer = !!config.can_acknowledge;
  const supervisor = ["supervisor", "admin"].includes(config.role);
  const areas = L.layerGroup().addTo(map);
  const marks = L.layerGroup().addTo(map);
  let list = [], selected = null, risk = null, sar = null, armed = false, timer = null;
  // an officer drawing an area: {shape: "polygon" | "circle", points, closed, cursor,
  // dblZoom}, null otherwise; once closed, the form names it and Save posts it
  let drawing = null;
  const sketch = L.layerGroup().addTo(map);
  // "Share with…" under the selected hazard (officers): open or not, its share log rows
  // (null while loading), the enabled partners (loaded once), a share under way
  const share = { open: false, rows: null, partners: null, busy: false };

  function draw() {
    areas.clearLayers();
    list.forEach((h) => {
      const c = COLOURS[h.properties.severity] || COLOURS.high;
      const sel = h.id === selected, waiting = h.properties.state === "awaiting_confirmation";
      L.geoJSON(h, { style: { color: c, weight: sel ? 3 : 2, dashArray: waiting ? "2 6" : "6 4", fillColor: c,
        fillOpacity: waiting ? 0.04 : sel ? 0.22 : 0.12 },
        interactive: true })
        .bindTooltip(esc(h.properties.name) + "<br>" + esc(h.properties.severity) + " · " + esc(until(h)), { sticky: true })
        .on("click", (e) => { if (!armed && !drawing) { L.DomEvent.stopPropagation(e); open(); select(h.id); } })
        .addTo(areas);
    });
  }

  function refresh() {
    return api("/api/hazards").then((fc) => {
      list = fc.features;
      toggle.querySelector(".hz-n").textContent = list.length;
      if (selected != null && !list.some((h) => h.id === selected)) { selected = null; risk = null; marks.clearLayers(); }
      draw();
      if (!panel.hidden) render();
      if (selected != null) return loadRisk(selected);
    }).catch((e) => console.warn("hazards:", e.message));
  }

  function loadRisk(id) {
    return api("/api/hazards/" + id + "/vessels").then((r) => {
      if (selected !== id) return;
      risk = r;
      showRisk();
      render();
    }).catch((e) => showError(e.message));
  }

  function select(id) {
    if (id !== selected) Object.assign(share, { open: false, rows: null });
    selected = id; risk = null; sar = null;
    draw(); render();
    const h = list.find((x) => x.id === id);
    if (h) map.flyToBounds(L.geoJSON(h).getBounds().pad(0.6), { duration: 0.6, maxZoom: 8 });
    return loadRisk(id);
  }

  function showRisk() {
    marks.clearLayers();
    (risk ? risk.vessels : []).forEach((v) => {
      L.circleMarker([v.lat, v.lon], { radius: 9, color: v.inside ? COLOURS.critical : COLOURS.high, weight: 2,
        fill: false, dashArray: v.inside ? null : "3 3", interactive: false }).addTo(marks);
    });
  }

  function riskTable() {
    if (!risk) return '<p class="muted">Computing the vessels at risk…</p>';
    if (!risk.vessels.length) return '<p class="muted">No vessel inside or entering within ' + risk.horizon_h + " h.</p>";
    const rows = risk.vessels.map((v) => '<tr data-mmsi="' + v.mmsi + '"' + (v.inside ? ' class="inside"' : "") + "><td>" +
      (v.inside ? "inside" : esc(hhmm(v.entry_time)) + ' <span class="muted">' + esc(inHours(v.entry_time)) + "</span>") +
      "</td><td>" + esc(v.name || "MMSI " + v.mmsi) + '</td><td class="num">' + (v.inside ? "—" : v.distance_nm.toFixed(1) + " nm") +
      '</td><td class="num">' + v.speed_kn.toFixed(1) + " kn</td></tr>");
    return "<p><b>" + risk.count + "</b> vessels at risk: <b>" + risk.inside + "</b> inside, " + (risk.count - risk.inside) +
      " entering within " + risk.horizon_h + " h</p>" +
      '<table id="hazard-vessels"><thead><tr><th>Entry (UTC)</th><th>Vessel</th><th class="num">Distance</th><th class="num">Speed</th></tr></thead><tbody>' +
      rows.join("") + "</tbody></table>";
  }

  function sarTable() {
    if (!sar) return "";
    const rows = sar.vessels.map((v) => '<tr data-mmsi="' + v.mmsi + '"' + (v.stale ? ' class="stale"' : "") + "><td>" +
      esc(v.name || "MMSI " + v.mmsi) + '<br><span class="muted">' + esc(typeLabel(v.ship_type)) +
      (v.length_m ? " · " + Math.round(v.length_m) + " m" : "") + "</span></td>" +
      '<td class="num">' + v.distance_nm.toFixed(1) + ' nm</td><td class="num">' + (v.at_rest ? "at rest" : v.eta_h.toFixed(1) + " h") +
      '</td><td class="num">' + v.bearing_to.toFixed(0) + '°</td><td class="num" title="' + esc(utc(v.last_seen)) + '">' +
      (v.stale ? '<span class="error">' + esc(ago(v.age_min)) + " (stale)</span>" : esc(ago(v.age_min))) + "</td></tr>");
    return "<h3>Nearest vessels</h3><p>to " + sar.lat.toFixed(3) + ", " + sar.lon.toFixed(3) + " by time to reach it · " +
      '<a href="/api/sar/nearest?lat=' + sar.lat + "&lon=" + sar.lon + "&limit=" + sar.count + (sar.exclude ? "&exclude=" + sar.exclude : "") +
      '&format=csv" download>CSV</a> · <a href="/api/sar/nearest?lat=' + sar.lat + "&lon=" + sar.lon + "&limit=" + sar.count + (sar.exclude ? "&exclude=" + sar.exclude : "") +
      '&format=html" target="_blank" rel="noopener">Printable</a></p>' +
      '<table id="sar-vessels"><thead><tr><th>Vessel</th><th class="num">Distance</th><th class="num">ETA</th><th class="num">Course</th><th class="num">Last seen</th></tr></thead><tbody>' +
      rows.join("") + "</tbody></table>";
  }

  function render() {
    // what an officer is typing survives a refresh
    const kept = ["hazard-name", "hazard-severity", "hazard-hours"].map((id) => [id, byId(id) && byId(id).value]);
    const focused = panel.contains(document.activeElement) ? document.activeElement.id : "";
    const wasOpen = !!(byId("hazard-draw") && byId("hazard-draw").open);  // what the officer opened stays open
    const ticked = [...panel.querySelectorAll(".hazard-share-partner:checked")].map((c) => c.value);
    fill();
    panel.querySelectorAll(".hazard-share-partner").forEach((c) => { c.checked = ticked.includes(c.value); });
    kept.forEach(([id, v]) => { if (v != null && byId(id)) byId(id).value = v; });
    if (wasOpen && byId("hazard-draw")) byId("hazard-draw").open = true;
    if (focused && byId(focused)) byId(focused).focus();
  }

  function fill() {
    const h = list.find((x) => x.id === selected);
    const items = list.map((x) => '<li data-id="' + x.id + '"' + (x.id === selected ? ' class="sel"' : "") + ">" + sevDot(x.properties.severity) +
      "<b>" + esc(x.properties.name) + '</b><br><span class="muted">' + esc(x.properties.severity) + " · " + esc(until(x)) +
      (x.properties.source === "cap" ? " · CAP " + esc(x.properties.cap_sender || "") : "") + "</span></li>");
    panel.innerHTML = '<h3>Hazard areas <button type="button" class="close" data-act="close" aria-label="Close the hazards panel">×</button></h3>' +
      '<ul class="hz">' + (items.join("") || '<li class="muted">No hazard in force.</li>') + "</ul>" +
      '<div class="row"><button type="button" data-act="sar" aria-pressed="' + armed + '">' + (armed ? "Click the map…" : "Nearest vessels to a point") + "</button>" +
      (officer ? '<label class="link">Import CAP… <input type="file" id="hazard-cap-file" accept=".xml,.cap,application/xml" hidden></label>' : "") + "</div>" +
      (officer ? '<details class="form" id="hazard-draw"' + (drawing ? " open" : "") + '><summary>Draw a hazard area…</summary>' +
        drawForm() + "</details>" : "") +
      (h ? "<h3>" + sevDot(h.properties.severity) + esc(h.properties.name) + "</h3>" +
        (h.properties.state === "awaiting_confirmation" ? '<p class="error" id="hazard-awaiting">Awaiting confirmation: ' +
          "larger than the area accepted without it; no zone_entry alert, not sent to partners until confirmed." +
          (supervisor ? ' <button type="button" id="hazard-confirm" data-act="confirm">Confirm</button>' : " A supervisor confirms it.") + "</p>" : "") +
        '<div class="row"><a href="/api/hazards/' + h.id + '/vessels?format=csv" download>CSV</a>' +
        '<a href="/api/hazards/' + h.id + '/cap" target="_blank" rel="noopener">CAP 1.2</a>' +
        (officer ? '<button type="button" class="link" data-act="share" aria-expanded="' + share.open + '">Share with…</button>' +
          '<button type="button" class="link" data-act="end">End hazard</button>' : "") + "</div>" +
        (officer && share.open ? shareForm() : "") + riskTable() : "") +
      sarTable() + '<p id="hazards-error" class="error" hidden role="alert"></p>';
  }

  function shareForm() {
    const rows = share.rows;
    const list = rows === null ? '<p class="muted">Loading…</p>' : !rows.length ? '<p class="muted">Not shared with any partner yet.</p>' :
      "<b>Shared with</b>" + rows.map((r) => '<div class="share-row" title="' + esc("share log row " + r.id + ", SHA-256 " + r.sha256) + '">' +
        esc(r.partner) + " · " + (r.mode === "automatic" ? "by its policy" : "by " + esc(r.actor)) + " · " + esc(utc(r.time)) + "</div>").join("");
    const ps = share.partners;
    const form = ps === null ? "" : !ps.length ? '<p class="muted">No partner to share with (mda partner add).</p>' :
      '<div class="row">' + ps.map((p) => '<label><input type="checkbox" class="hazard-share-partner" value="' + esc(p.name) + '"> ' +
        esc(p.name) + " (" + esc(p.country) + ")</label>").join("") +
      '<button type="button" id="hazard-share-send" data-act="share-send"' + (share.busy ? " disabled>Sharing…" : ">Share") + "</button></div>" +
      '<p class="muted">The hazard and its vessels at risk; then its updates and its end, on the partner\'s feed.</p>';
    return '<div id="hazard-share">' + list + form + "</div>";
  }

  function loadShares(id) {
    const first = share.partners ? Promise.resolve() : api("/api/partners")
      .then((b) => { share.partners = b.partners.filter((p) => !p.disabled); });
    return first.then(() => api("/api/hazards/" + id + "/shares"))
      .then((b) => { if (selected === id) { share.rows = b.shares; render(); } })
      .catch((e) => { share.rows = []; render(); showError("Sharing: " + e.message); });
  }

  function sendShare() {
    const id = selected;
    const names = [...panel.querySelectorAll(".hazard-share-partner:checked")].map((c) => c.value);
    if (!names.length) { showError("Tick the partners to share with."); return; }
    share.busy = true; render();
    api("/api/hazards/" + id + "/share", { method: "POST", body: { partners: names } })
      .then(() => { panel.querySelectorAll(".hazard-share-partner:checked").forEach((c) => { c.checked = false; }); return loadShares(id); })
      .catch((e) => { share.busy = false; render(); showError("Share refused: " + e.message); })
      .finally(() => { if (share.busy) { share.busy = false; render(); } });
  }

  function drawForm() {
    if (!drawing) {
      return '<p class="muted">Draw the area on the map, then name it.</p><div class="row">' +
        '<button type="button" data-act="draw-polygon">Draw a polygon</button>' +
        '<button type="button" data-act="draw-circle">Draw a circle</button></div>';
    }
    const n = drawing.points.length;
    if (!drawing.closed) {
      const say = drawing.shape === "circle" ? (n ? "Click a point of the edge…" : "Click the centre…") :
        "Click the corners (" + n + " so far); double-click or Finish closes it.";
      return '<p id="hazard-draw-status">' + say + ' <span class="muted">Esc cancels.</span></p><div class="row">' +
        (drawing.shape === "polygon" ? '<button type="button" data-act="finish"' + (n < 3 ? " disabled" : "") + ">Finish</button>" : "") +
        '<button type="button" class="link" data-act="cancel-draw">Cancel</button></div>';
    }
    return '<p id="hazard-draw-status">' + (drawing.shape === "circle" ? "Circle of " + radiusKm().toFixed(1) + " km" :
      "Polygon of " + n + " corners") + " drawn: name it and save.</p>" +
      '<label>Name <input id="hazard-name" maxlength="200" placeholder="e.g. oil spill, MV ..."></label> ' +
      '<label>Severity <select id="hazard-severity"><option>critical</option><option selected>high</option><option>medium</option><option>low</option></select></label> ' +
      '<label>For <select id="hazard-hours"><option value="6">6 h</option><option value="12">12 h</option><option value="24" selected>24 h</option><option value="72">3 days</option><option value="">until ended</option></select></label>' +
      '<div class="row"><button type="button" data-act="save-drawn">Save hazard area</button>' +
      '<button type="button" class="link" data-act="cancel-draw">Discard</button></div>';
  }

  function showError(text) {
    const e = byId("hazards-error");
    if (e) { e.textContent = text; e.hidden = false; }
  }

  function nearest(lat, lon, exclude) {
    armed = false;
    document.body.classList.remove("sar-armed");
    return api("/api/sar/nearest?lat=" + lat.toFixed(5) + "&lon=" + lon.toFixed(5) + "&limit=10" +
      (exclude ? "&exclude=" + exclude : "")).then((r) => {
      sar = Object.assign(r, { exclude });
      marks.clearLayers();
      L.circleMarker([lat, lon], { radius: 7, color: COLOURS.critical, weight: 3, fillOpacity: 0.6, interactive: false }).addTo(marks);
      r.vessels.forEach((v, i) => {
        L.polyline([[v.lat, v.lon], [lat, lon]], { color: i === 0 ? COLOURS.critical : COLOURS.high, weight: i === 0 ? 2.5 : 1.5,
          dashArray: v.at_rest ? "2 4" : null, opacity: 0.9, interactive: false }).addTo(marks);
      });
      open();
    }).catch((e) => { render(); showError(e.message); });
  }

  function open() {
    panel.hidden = false;
    toggle.setAttribute("aria-pressed", "true");
    render();
  }

  panel.addEventListener("click", (e) => {
    const act = e.target.closest("[data-act]");
    const row = e.target.closest("tr[data-mmsi]");
    const li = e.target.closest("li[data-id]");
    if (act) {
      const a = act.getAttribute("data-act");
      if (a === "close") { panel.hidden = true; toggle.setAttribute("aria-pressed", "false"); }
      else if (a === "sar") { if (drawing) stopDrawing(); armed = !armed; document.body.classList.toggle("sar-armed", armed); render(); }
      else if (a === "draw-polygon") startDrawing("polygon");
      else if (a === "draw-circle") startDrawing("circle");
      else if (a === "finish") closeDrawing();
      else if (a === "cancel-draw") stopDrawing();
      else if (a === "save-drawn") saveDrawn();
      else if (a === "share" && selected != null) { share.open = !share.open; render(); if (share.open) loadShares(selected); }
      else if (a === "share-send") sendShare();
      else if (a === "confirm" && selected != null && confirm("Confirm this hazard? It comes into force: zone_entry alerts, partners' feeds.")) {
        const id = selected;
        api("/api/hazards/" + id + "/confirm", { method: "POST" }).then(() => refresh()).catch((err) => showError(err.message));
      }
      else if (a === "end" && selected != null && confirm("End this hazard? Vessels entering it raise no more alerts.")) {
        api("/api/hazards/" + selected + "/end", { method: "POST" }).then(() => { selected = null; risk = null; marks.clearLayers(); refresh(); })
          .catch((err) => showError(err.message));
      }
    } else if (row) {
      if (onVessel) onVessel(Number(row.getAttribute("data-mmsi")));
    } else if (li) {
      select(Number(li.getAttribute("data-id")));
    }
  });
  panel.addEventListener("change", (e) => {
    if (e.target.id !== "hazard-cap-file" || !e.target.files.length) return;
    e.target.files[0].text().then((text) => apiText("/api/hazards", text, "application/cap+xml"))
      .then((fc) => refresh().then(() => fc.features.length && select(fc.features[0].id)))
      .catch((err) => showError(err.message));
  });
  toggle.addEventListener("click", () => {
    if (panel.hidden) open(); else { panel.hidden = true; toggle.setAttribute("aria-pressed", "false"); }
  });
  function startDrawing(shape) {
    if (drawing) stopDrawing();
    drawing = { shape, points: [], closed: false, cursor: null, dblZoom: map.doubleClickZoom.enabled() };
    map.doubleClickZoom.disable();  // a double-click closes the polygon
    armed = false;
    document.body.classList.add("sar-armed");
    render();
  }
  function stopDrawing() {
    if (drawing && drawing.dblZoom) map.doubleClickZoom.enable();
    drawing = null; sketch.clearLayers();
    document.body.classList.remove("sar-armed");
    render();
  }
  function radiusKm() { return map.distance(drawing.points[0], drawing.points[1]) / 1000; }
  function drawSketch() {
    sketch.clearLayers();
    if (!drawing) return;
    const c = COLOURS.high, pts = drawing.points, line = { color: c, weight: 2, dashArray: "6 4", interactive: false };
    pts.forEach((p) => L.circleMarker(p, { radius: 4, color: c, weight: 2, fillOpacity: 0.8, interactive: false }).addTo(sketch));
    if (drawing.shape === "circle") {
      const edge = pts[1] || drawing.cursor;
      if (pts.length && edge) L.circle(pts[0], Object.assign({ radius: map.distance(pts[0], edge), fillOpacity: 0.1 }, line)).addTo(sketch);
    } else if (drawing.closed) {
      L.polygon(pts, Object.assign({ fillOpacity: 0.15 }, line)).addTo(sketch);
    } else {
      const open = drawing.cursor && pts.length ? pts.concat([drawing.cursor]) : pts;
      if (open.length > 1) L.polyline(open, line).addTo(sketch);
    }
  }
  function drawClick(latlng) {
    if (drawing.closed) return;
    const pts = drawing.points;
    if (pts.length && map.latLngToContainerPoint(pts[pts.length - 1]).distanceTo(map.latLngToContainerPoint(latlng)) < 6) {
      return;  // the second click of a double-click, or a slip of the hand
    }
    pts.push(latlng);
    if (drawing.shape === "circle" && pts.length === 2) { closeDrawing(); return; }
    drawSketch();
    render();
  }
  function closeDrawing() {
    if (!drawing || drawing.closed) return;
    if (drawing.shape === "polygon" && drawing.points.length < 3) { showError("A polygon needs at least three corners."); return; }
    drawing.closed = true; drawing.cursor = null;
    if (drawing.dblZoom) map.doubleClickZoom.enable();
    drawing.dblZoom = false;
    document.body.classList.remove("sar-armed");
    drawSketch();
    open();
    const name = byId("hazard-name");
    if (name && !name.value) name.focus();
  }
  function saveDrawn(confirmLarge) {
    const name = byId("hazard-name").value.trim();
    if (!name) { showError("Name the hazard first."); byId("hazard-name").focus(); return; }
    const props = { name, severity: byId("hazard-severity").value };
    const hours = byId("hazard-hours").value;
    if (hours) props.expires = "+" + hours + "h";
    let geometry;
    if (drawing.shape === "circle") {
      const c = drawing.points[0];
      props.radius_km = Math.max(0.1, Math.round(radiusKm() * 10) / 10);
      geometry = { type: "Point", coordinates: [c.lng, c.lat] };
    } else {
      const ring = drawing.points.map((p) => [Math.round(p.lng * 1e5) / 1e5, Math.round(p.lat * 1e5) / 1e5]);
      geometry = { type: "Polygon", coordinates: [ring.concat([ring[0]])] };
    }
    return createDrawn({ type: "Feature", geometry, properties: props }, confirmLarge);
  }
  function createDrawn(feature, confirmLarge) {
    return fetch("/api/hazards" + (confirmLarge ? "?confirm_large=true" : ""), { method: "POST", credentials: "same-origin", body: JSON.stringify(feature),
      headers: { "Accept": "application/json", "Content-Type": "application/json", "X-MDA-Drawn": "1",
        "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content } })
      .then((r) => r.json().then((b) => { if (!r.ok) throw new Error((b.error || {}).message || "HTTP " + r.status); return b; }))
      .then((fc) => { stopDrawing(); return refresh().then(() => select(fc.features[0].id)); })
      .catch((err) => {
        // the drawing stays: a larger area than usual is saved once confirmed, else fixed or discarded
        if (!confirmLarge && /confirm_large/.test(err.message) && confirm(err.message + "\n\nSave it anyway?")) return saveDrawn(true);
        showError(err.message);
      });
  }

  map.on("click", (e) => {
    if (drawing) drawClick(e.latlng);
    else if (armed) nearest(e.latlng.lat, e.latlng.lng);
  });
  map.on("dblclick", () => { if (drawing && drawing.shape === "polygon") closeDrawing(); });
  map.on("mousemove", (e) => { if (drawing && !drawing.closed && drawing.points.length) { drawing.cursor = e.latlng; drawSketch(); } });
  // Esc ends the drawing (or the armed click) and nothing else: the innermost thing, so in
  // the capture phase, before the shortcuts (keyboard.js), and marked as used. A tool that
  // took the key first (measuring) keeps it: one thing per press.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented || (!drawing && !armed) || document.querySelector("dialog[open]")) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;  // leaving the field comes first
    if (drawing) stopDrawing();
    else { armed = false; document.body.classList.remove("sar-armed"); render(); }
    e.preventDefault();
  }, { capture: true });

  /** A distress alert's card offers the nearest vessels to it (the beacon left out). */
  function addDeskAction(desk) {
    desk.addAction((a, actions) => {
      if (a.kind !== "distress_beacon" || a.lat == null) return;
      const b = document.createElement("button");
      b.type = "button"; b.textContent = "Nearest vessels";
      b.setAttribute("aria-label", "The vessels that can reach this distress first");
      b.addEventListener("click", (e) => { e.stopPropagation(); nearest(a.lat, a.lon, a.mmsi); });
      actions.appendChild(b);
    });
  }

  refresh();
  timer = setInterval(refresh, REFRESH_MS);
  return {
    refresh,
    select,
    nearest,
    open,
    addDeskAction,
    consumesClick: () => armed || !!(drawing && !drawing.closed),
    drawingState: () => (drawing ? { shape: drawing.shape, points: drawing.points.length, closed: drawing.closed } : null),
    drawn() {  // the areas drawn: [south, west, north, east] each
      const out = [];
      areas.eachLayer((g) => { const b = g.getBounds(); out.push([b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]); });
      return out;
    },
    hazards: () => list.map((h) => ({ id: h.id, name: h.properties.name, severity: h.properties.severity })),
    atRisk: () => (risk ? risk.vessels.map((v) => ({ mmsi: v.mmsi, inside: v.inside, entry_time: v.entry_time })) : null),
    responders: () => (sar ? sar.vessels.map((v) => v.mmsi) : null),
    sarAt: () => (sar ? { lat: sar.lat, lon: sar.lon } : null),  // the position the list is for
    shares: () => (share.rows ? share.rows.map((r) => ({ partner: r.partner, mode: r.mode, actor: r.actor })) : null),
    stop: () => clearInterval(timer)
  };
}
