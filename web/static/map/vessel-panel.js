/* The vessel panel (ux.md): identity, voyage (kept current as live fixes arrive), the
 * vessel's watch-list entry, active alerts, rule suspensions, notes, the track with depth
 * presets (fixes more than 30 min apart joined by a dashed line: a gap), and its tools:
 * follow, replay, measure, range rings, CPA. The map keeps the vessel clear of the panel. */

import { L } from "./leaflet.js";
import { api } from "./api.js";
import { inHistory, isNotice } from "./alerts.js";
import { config } from "./config.js";
import { byId, themeColor } from "./dom.js";
import { ago, esc, latlonText, localTitle, num, utc } from "./format.js";
import { savePrefs } from "./prefs.js";
import { etaText, flagOf, navStatusText, shipTypeText } from "./ships.js";
import { eventNow, store } from "./store.js";

const TRACK_PRESETS_H = [6, 12, 24, 72, 168];
const GAP_S = 1800;
const SUSPEND_HOURS = [[1, "1 h"], [6, "6 h"], [24, "24 h"], [168, "7 days"], [720, "30 days"], [8760, "1 year"]];

/** Returns {select(mmsi, opts), showAlertCount(), live(), flyTo(latlng, zoom), close(),
 *  refreshExtras()}. select's opts: fly (default true) to fly there; track {start, end,
 *  highlight: [startMs, endMs, colour], fit} for an alert's evidence instead of the preset
 *  hours. onTool(name, mmsi) for the tools' buttons (replay, measure, rings, cpa). */
export function mountVesselPanel({ map, layer, onTool }) {
  const panel = byId("vessel-panel");
  const trackLayer = L.layerGroup().addTo(map);
  let trackHours = 24, follow = false, detail = null;

  // The map's visible centre is left of the panel: points are put there, not under it.
  function offsetX() { return panel.hidden ? 0 : Math.min(panel.offsetWidth + 20, map.getSize().x / 2) / 2; }
  function flyTo(latlng, zoom) {
    const z = zoom == null ? map.getZoom() : zoom;
    const p = map.project(L.latLng(latlng), z).add([offsetX(), 0]);
    map.flyTo(map.unproject(p, z), z, { duration: 0.8 });
  }

  function select(mmsi, opts = {}) {
    store.selected = mmsi;
    savePrefs("selected", { mmsi });
    const v = store.vessels.get(mmsi);
    panel.hidden = false;
    if (opts.fly !== false && v && v.lat != null) flyTo([v.lat, v.lon], Math.max(map.getZoom(), 9));
    layer.redraw();
    byId("vp-title").textContent = (v && v.name) || ("MMSI " + mmsi);
    byId("vp-body").innerHTML = '<p class="empty">Loading…</p>';
    return api("/api/vessels/" + mmsi).then((d) => {
      if (store.selected !== mmsi) return null;
      detail = d;
      render(d);
      refreshExtras();
      return showTrack(mmsi, opts.track || { hours: trackHours });
    }).catch((e) => {
      byId("vp-body").innerHTML = '<p class="empty">' + esc(e.message) + "</p>";
    });
  }

  function render(d) {
    byId("vp-title").textContent = d.name || ("MMSI " + d.mmsi);
    byId("vp-body").innerHTML = toolsHtml(follow) + '<div id="vp-watch"></div>' + identityHtml(d) +
      '<h4>Voyage</h4><dl id="vp-voyage"></dl><div id="vp-alerts"></div><div id="vp-susp"></div><div id="vp-notes"></div>' +
      trackPresetsHtml(trackHours);
    live(true);
    showAlertCount();
    showWatch();
  }

  /** The voyage from the latest fix the map has (live frames), else from the server's
   *  answer; "last seen" moves on every second. */
  function live(force) {
    const box = byId("vp-voyage");
    if (!box || store.selected == null || !detail) return;
    const v = store.vessels.get(store.selected), p = Object.assign({}, detail.position || {});
    if (v && v.ts && (!p.time || v.ts >= Date.parse(p.time))) {
      Object.assign(p, { lat: v.lat, lon: v.lon, sog: v.sog, cog: v.cog, heading: v.hdg, nav_status: v.nav,
        time: new Date(v.ts).toISOString() });
    }
    const html = voyageHtml(detail, p);
    if (force || box.dataset.sig !== html) { box.innerHTML = html; box.dataset.sig = html; store.stats.panelUpdates++; }
    if (follow && v && v.lat != null) keepInView(v);
  }

  // Follow: pan when the vessel leaves the middle of the visible map (left of the panel).
  function keepInView(v) {
    const size = map.getSize(), pt = map.latLngToContainerPoint([v.lat, v.lon]);
    const right = size.x - (panel.hidden ? 0 : panel.offsetWidth + 20);
    if (pt.x < size.x * 0.2 || pt.x > right - size.x * 0.15 || pt.y < size.y * 0.2 || pt.y > size.y * 0.8) {
      flyTo([v.lat, v.lon]);
    }
  }

  // The selected vessel's active alerts, kept current as alerts change.
  function showAlertCount() {
    const box = byId("vp-alerts");
    if (!box || store.selected == null) return;
    let n = 0;
    store.alerts.forEach((a) => {
      if (!inHistory(a) && !isNotice(a) && (a.mmsi === store.selected || a.other_mmsi === store.selected)) n++;
    });
    box.innerHTML = n ? '<h4>Alerts</h4><p><span class="badge alarm">' + n + " active</span></p>" : "";
  }

  function showWatch() {
    const box = byId("vp-watch");
    if (!box) return;
    const w = store.watched.get(store.selected);
    box.innerHTML = w ? '<p class="watch-badge" title="On a watch list">◆ WATCH LIST · ' + esc(w.list) + ": " + esc(w.reason) + "</p>" :
      (config.can_acknowledge ? '<p class="muted small"><button type="button" class="link" data-tool="watch">Add to a watch list…</button></p>' : "");
  }

  /** Suspensions and notes of the selected vessel (after a change, or a reload). */
  function refreshExtras() {
    const mmsi = store.selected;
    if (mmsi == null) return Promise.resolve();
    return Promise.all([api("/api/suspensions?mmsi=" + mmsi), api("/api/notes?mmsi=" + mmsi + "&limit=50")])
      .then(([s, n]) => {
        if (store.selected !== mmsi) return;
        const sb = byId("vp-susp"), nb = byId("vp-notes");
        if (sb) sb.innerHTML = suspensionsHtml(s.suspensions);
        if (nb) nb.innerHTML = notesHtml(n.notes);
      }).catch((e) => { console.warn("panel:", e.message); });
  }

  function showTrack(mmsi, opts) {
    return api("/api/vessels/" + mmsi + "/track" + trackQuery(mmsi, opts)).then((f) => {
      trackLayer.clearLayers();
      const info = byId("track-info");
      if (!f.geometry) { if (info) info.textContent = "No track in this period."; return f; }
      const evidence = drawTrack(trackLayer, f, opts.highlight);
      if (opts.fit) frame(evidence.length > 1 ? evidence : f.geometry.coordinates.map(([lon, lat]) => [lat, lon]));
      const times = f.properties.times;
      if (info) info.textContent = f.properties.points + " fixes · " + utc(times[0] * 1000) + " → " + utc(times[times.length - 1] * 1000);
      return f;
    });
  }

  // Fly to the evidence (or the whole track), clear of the vessel panel on the right.
  function frame(latlngs) {
    const b = L.latLngBounds(latlngs);
    if (b.isValid()) map.flyToBounds(b, { paddingTopLeft: [80, 80], maxZoom: 12, duration: 0.8,
      paddingBottomRight: [panel.hidden ? 80 : panel.offsetWidth + 60, 80] });
  }

  function close() {
    panel.hidden = true; store.selected = null; follow = false; detail = null; trackLayer.clearLayers();
    savePrefs("selected", { mmsi: null });
    layer.redraw();
  }

  byId("vp-close").addEventListener("click", close);
  panel.addEventListener("click", (e) => {
    const t = e.target.closest("[data-tool],[data-h],[data-act]"); if (!t || store.selected == null) return;
    const mmsi = store.selected;
    if (t.hasAttribute("data-h")) {
      trackHours = Number(t.getAttribute("data-h"));
      t.parentNode.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b === t));
      showTrack(mmsi, { hours: trackHours });
      return;
    }
    const tool = t.getAttribute("data-tool");
    if (tool === "follow") {
      follow = !follow; t.setAttribute("aria-pressed", String(follow)); t.classList.toggle("active", follow);
      if (follow) live(true);
      return;
    }
    const act = t.getAttribute("data-act");
    if (act === "add-note") return addNote(mmsi);
    if (act === "suspend") return suspend(mmsi);
    if (act === "lift") return lift(Number(t.getAttribute("data-id")));
    if (tool) onTool(tool, mmsi);
  });

  function addNote(mmsi) {
    const text = byId("vp-note-text");
    if (!text || !text.value.trim()) return;
    api("/api/notes", { method: "POST", body: { mmsi, text: text.value } })
      .then(() => { text.value = ""; refreshExtras(); }).catch((e) => showError("Note not saved: " + e.message));
  }
  function suspend(mmsi) {
    const kind = byId("vp-susp-kind").value, hours = Number(byId("vp-susp-hours").value), reason = byId("vp-susp-reason");
    if (!reason.value.trim()) { reason.focus(); showError("Say why the rule is suspended."); return; }
    api("/api/suspensions", { method: "POST", body: { kind, mmsi, hours, reason: reason.value } })
      .then(() => refreshExtras()).catch((e) => showError("Not suspended: " + e.message));
  }
  function lift(id) {
    api("/api/suspensions/" + id + "/lift", { method: "POST", body: {} })
      .then(() => refreshExtras()).catch((e) => showError("Not lifted: " + e.message));
  }
  function showError(text) { const b = byId("vp-error"); if (b) { b.hidden = false; b.textContent = text; } }

  setInterval(() => live(false), 1000);  // "last seen" moves on; follow keeps up
  return { select, showAlertCount, live, flyTo, close, refreshExtras, showWatch, isFollowing: () => follow };
}

function toolsHtml(follow) {
  const b = (tool, text, title, extra) => '<button type="button" data-tool="' + tool + '" title="' + esc(title) + '"' + (extra || "") + ">" + text + "</button>";
  return '<div class="vp-tools">' +
    b("follow", "Follow", "Keep this vessel in view as it moves", ' aria-pressed="' + follow + '"' + (follow ? ' class="active"' : "")) +
    b("replay", "Replay…", "Play this vessel's track back (with the others, faded)") +
    b("measure", "Measure", "Distance and bearing from this vessel to a point or vessel") +
    b("rings", "Rings", "Range rings around this vessel") +
    b("cpa", "CPA…", "Closest point of approach with another vessel (click it)") +
    '</div><p id="vp-error" class="error" hidden role="alert"></p>';
}

function identityHtml(d) {
  const flag = flagOf(d.mmsi);
  const size = d.length ? d.length + " × " + (d.beam || "?") + " m" : "—";
  return "<h4>Identity</h4><dl>" +
    "<dt>MMSI</dt><dd class=mono>" + d.mmsi + (flag ? ' <span class="badge">' + flag + "</span>" : "") + "</dd>" +
    "<dt>IMO</dt><dd class=mono>" + esc(d.imo || "—") + "</dd>" +
    "<dt>Call sign</dt><dd class=mono>" + esc(d.callsign || "—") + "</dd>" +
    "<dt>Type</dt><dd>" + esc(shipTypeText(d.ship_type)) + "</dd>" +
    "<dt>Size</dt><dd>" + size + "</dd>" +
    "<dt>Draught</dt><dd>" + num(d.draught, 1, " m") + "</dd></dl>";
}

// The voyage: static data (d: destination, ETA) and the latest position report (p).
function voyageHtml(d, p) {
  const eta = d.eta ? etaText(d.eta, p.time) : "";
  return "<dt>Status</dt><dd>" + esc(p.nav_status != null ? navStatusText(p.nav_status) : "—") + "</dd>" +
    "<dt>SOG / COG</dt><dd class=num id=\"vp-sog\">" + num(p.sog, 1, " kn") + " / " + num(p.cog, 1, "°") + "</dd>" +
    "<dt>Heading</dt><dd class=num>" + (p.heading != null && p.heading < 360 ? p.heading + "°" : "—") + "</dd>" +
    "<dt>Destination</dt><dd>" + esc(d.destination || "—") + (eta ? " · ETA " + esc(eta) : "") + "</dd>" +
    "<dt>Position</dt><dd class=num id=\"vp-position\">" + (p.lat != null ? latlonText(p.lat, p.lon) : "—") + "</dd>" +
    '<dt>Last seen</dt><dd class=num id="vp-last-seen" title="' + esc(localTitle(p.time)) + '">' +
      (p.time ? utc(p.time) + " · " + ago(eventNow() - Date.parse(p.time)) : "—") + "</dd>" +
    "<dt>Source</dt><dd>" + esc(p.source || (d.position || {}).source || "—") + "</dd>";
}

function suspensionsHtml(list) {
  const kinds = Array.isArray(config.kinds) ? config.kinds : [];
  const label = (k) => (kinds.find((x) => x.kind === k) || { label: k }).label;
  let html = "<h4>Rules suspended</h4>";
  html += list.length ? '<ul class="susp">' + list.map((s) => "<li><b>" + esc(label(s.kind)) + "</b> until " + esc(utc(s.until)) +
    " · " + esc(s.created_by) + ": “" + esc(s.reason) + "”" +
    (config.can_acknowledge ? ' <button type="button" class="link" data-act="lift" data-id="' + s.id + '">Lift</button>' : "") +
    "</li>").join("") + "</ul>" : '<p class="muted small">None.</p>';
  if (config.can_acknowledge) {
    html += '<details class="form"><summary>Suspend a rule for this vessel…</summary>' +
      '<label>Rule <select id="vp-susp-kind">' + kinds.map((k) => '<option value="' + esc(k.kind) + '">' + esc(k.label) + "</option>").join("") +
      '</select></label><label>For <select id="vp-susp-hours">' +
      SUSPEND_HOURS.map(([h, t]) => '<option value="' + h + '"' + (h === 24 ? " selected" : "") + ">" + t + "</option>").join("") +
      '</select></label><label>Reason <input id="vp-susp-reason" maxlength="500" placeholder="e.g. survey ship, loiters by design"></label>' +
      '<button type="button" data-act="suspend">Suspend</button></details>';
  }
  return html;
}

function notesHtml(list) {
  let html = "<h4>Notes</h4>";
  html += list.length ? '<ul class="notes">' + list.map((n) => '<li><span class="meta">' + esc(utc(n.created_at)) + " · " +
    esc(n.author) + (n.alert_id ? " · alert #" + n.alert_id : "") + "</span><br>" + esc(n.text) + "</li>").join("") + "</ul>" :
    '<p class="muted small">No notes.</p>';
  if (config.can_acknowledge) {
    html += '<div class="form"><textarea id="vp-note-text" rows="2" maxlength="4000" placeholder="A note for the watch (kept with your name)"></textarea>' +
      '<button type="button" data-act="add-note">Add note</button></div>';
  }
  return html;
}

function trackPresetsHtml(current) {
  return '<h4>Track</h4><div class="presets" id="track-presets">' +
    TRACK_PRESETS_H.map((h) => '<button type="button" data-h="' + h + '"' + (h === current ? ' class="active"' : "") + ">" +
      (h < 48 ? h + " h" : h / 24 + " d") + "</button>").join("") +
    '</div><p id="track-info" class="num"></p>';
}

// The track's query: an explicit period, or the hours before the vessel's last fix (which
// may lie ahead of the wall clock on a replay), or before now for a vessel not on the map.
function trackQuery(mmsi, opts) {
  if (opts.start) return "?start=" + encodeURIComponent(opts.start) + "&end=" + encodeURIComponent(opts.end);
  const span = opts.hours * 3600e3, last = (store.vessels.get(mmsi) || {}).ts;
  return "?start=" + encodeURIComponent(new Date(last - span || Date.now() - span).toISOString());
}

// The track on its layer: solid runs, dashed gaps, the start as a dot, and the fixes within
// highlight ([startMs, endMs, colour]: an alert's evidence) drawn thick. Returns those fixes.
function drawTrack(trackLayer, f, highlight) {
  const coords = f.geometry.coordinates, times = f.properties.times;
  const color = themeColor("--track");
  const solid = [], dashed = [], evidence = [];
  let run = [];
  for (let i = 0; i < coords.length; i++) {
    const ll = [coords[i][1], coords[i][0]];
    if (i > 0 && times[i] - times[i - 1] > GAP_S) { dashed.push([run[run.length - 1], ll]); solid.push(run); run = []; }
    run.push(ll);
    if (highlight && times[i] * 1000 >= highlight[0] && times[i] * 1000 <= highlight[1]) evidence.push(ll);
  }
  solid.push(run);
  L.polyline(solid, { color, weight: 1.6, opacity: 0.85, interactive: false }).addTo(trackLayer);
  if (dashed.length) L.polyline(dashed, { color, weight: 1.2, dashArray: "4 5", opacity: 0.7, interactive: false }).addTo(trackLayer);
  if (evidence.length > 1) {
    L.polyline(evidence, { color: highlight[2] || "#ff3b3b", weight: 3.5, opacity: 0.95, interactive: false }).addTo(trackLayer);
  }
  L.circleMarker([coords[0][1], coords[0][0]], { radius: 3, color, weight: 1, fillOpacity: 1, interactive: false }).addTo(trackLayer);
  return evidence;
}

