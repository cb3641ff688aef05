/* mda watch console: the live map and the alert desk. This module wires the others.
 *
 * Everything is served by the app (Leaflet vendored, land polygons shipped): no request
 * leaves this server unless an online tile layer is configured. Times are UTC. State the
 * modules share lives in store.js; each module keeps the rest to itself. What the officer
 * set (view, filters, selection, desk view, theme) is remembered in this browser.
 *
 * Test and automation hooks: window.mdaMap (vesselCount, vesselPosition, ...). */

import { api } from "./api.js";
import { mountAreas } from "./areas.js";
import { createChart } from "./chart.js";
import { config } from "./config.js";
import { mountDataQuality } from "./data-quality.js";
import { mountDesk } from "./desk.js";
import { mountExtract } from "./extract.js";
import { mountShare } from "./share.js";
import { mountPartnerMap } from "./partner-map.js";
import { mountPartnersAdmin } from "./partners-admin.js";
import { mountHazards } from "./hazards.js";
import { byId } from "./dom.js";
import { mountKeyboard } from "./keyboard.js";
import { L } from "./leaflet.js";
import { mountLegend } from "./legend.js";
import { createLive } from "./live.js";
import { bearingDeg, cpaTcpa, destinationPoint, distanceNm, mountMeasure } from "./measure.js";
import { loadPrefs, savePrefs } from "./prefs.js";
import { mountReplay } from "./replay.js";
import { mountSearch } from "./search.js";
import { mountSession } from "./session.js";
import { mountSound } from "./sound.js";
import { mountSuspensions } from "./suspensions.js";
import { mountStatusBar } from "./status-bar.js";
import { store } from "./store.js";
import { mountTheme } from "./theme.js";
import { VesselLayer, followPointer } from "./vessel-layer.js";
import { mountVesselPanel } from "./vessel-panel.js";
import { applyPositions, loadVessels } from "./vessels.js";
import { mountWatchlists } from "./watchlists.js";

const DIMS_FROM_ZOOM = 13;

// Mounting order shows on the map: it sets the controls' order in their corners, and the
// vessel canvas enters the overlay pane before the canvases Leaflet adds there as land,
// zones and tracks arrive (which therefore stack above it).
const chart = createChart(config);
const map = chart.map;
const saved = loadPrefs("view", null);
if (saved && Array.isArray(saved.center) && typeof saved.zoom === "number") map.setView(saved.center, saved.zoom, { animate: false });
map.on("moveend", () => { const c = map.getCenter(); savePrefs("view", { center: [c.lat, c.lng], zoom: map.getZoom() }); });
const legend = mountLegend({ onFilter: () => layer.redraw() });  // a click, once the layer exists
const layer = new VesselLayer({ onDrawn: legend.showDrawn }).addTo(map);
chart.addControls(layer);
const measure = mountMeasure(map, layer);
const statusBar = mountStatusBar(map);
const replay = mountReplay(map, () => layer._canvas);
const panel = mountVesselPanel({ map, layer, onTool });
const suspensions = mountSuspensions({ map, onChange: () => panel.refreshExtras() });
const hazards = mountHazards({ map, onVessel: (mmsi) => panel.select(mmsi, { fly: true }) });  // hazard areas, SAR assist
followPointer(map, layer, { onPick: (mmsi) => { if (!measure.consumesClick() && !suspensions.consumesClick() && !hazards.consumesClick()) panel.select(mmsi, { fly: false }); } });
const search = mountSearch({ onPick: (mmsi) => panel.select(mmsi, { fly: true }) });
const sound = mountSound();
const watch = mountWatchlists({ onChange: () => { layer.redraw(); panel.showWatch(); } });
// The data-quality panel and the desk call each other (the toggle re-renders the desk, a
// live notice recounts the panel): the panel's callbacks run only on a click, after both exist.
const dataQuality = mountDataQuality({ onToggle: () => desk.render(), show: (a) => desk.show(a),
  toast: (text) => desk.toast(text) });
// Partners' alerts (a marker each) and the extracts imported from partners (officers import).
const partnerMap = mountPartnerMap({ map, canImport: !!config.can_acknowledge,
  onShowAlert: (id) => { const a = store.alerts.get(id); if (a) { desk.show(a); desk.focusCard(id); } } });
const desk = mountDesk({ map, layer, sound, panel, canAcknowledge: !!config.can_acknowledge,
  onNoticesLoaded: dataQuality.refresh, onLiveNotice: dataQuality.refreshSoon, onAlerts: partnerMap.refreshAlerts });
// An alert's vessels can be replayed from its card (the way other modules add actions).
desk.addAction((a, actions) => {
  if (!a.mmsi) return;
  const b = document.createElement("button");
  b.type = "button"; b.textContent = "Replay"; b.setAttribute("aria-label", "Replay the track of this alert's vessels");
  b.addEventListener("click", (e) => {
    e.stopPropagation();
    const start = Date.parse(a.start), end = a.end ? Date.parse(a.end) : Math.max(store.dataClock, start);
    const margin = Math.max(30 * 60e3, (end - start) * 0.5);
    replay.open([a.mmsi, a.other_mmsi], { start: new Date(start - margin).toISOString(), end: new Date(end + margin).toISOString() });
  });
  actions.appendChild(b);
});
mountExtract({ desk, canExtract: !!config.can_acknowledge });  // incident extracts (officers)
mountShare({ desk, canShare: !!config.can_acknowledge });  // sharing with partners (officers)
hazards.addDeskAction(desk);  // a distress alert's card: the nearest vessels to it
const partnersAdmin = mountPartnersAdmin({ container: partnerMap.controls });  // admins: partners, keys, tokens
mountAreas({ onPick: (bounds) => map.flyToBounds(bounds, { duration: 0.8 }) });
mountKeyboard({ desk, panel, search: byId("search") });
byId("watch-toggle").addEventListener("click", () => watch.open());
byId("handover-link").addEventListener("click", () => window.open("/handover", "_blank", "noopener"));

function onTool(name, mmsi) {
  if (name === "replay") replay.open([mmsi]);
  else if (name === "watch") watch.open({ mmsi });
  else measure.start(name, mmsi);
}

setInterval(everySecond, 1000);
function everySecond() {
  const ringing = desk.anyRinging();
  statusBar.showClock(); statusBar.showFeeds(); sound.showSilence(ringing); statusBar.showDataClock();
  if (!ringing) return;
  sound.repeat();   // until acknowledged, unless silenced or muted
  layer.redraw();   // the flashing rings
}

mountTheme({ onChange: () => { chart.restyle(); layer.redraw(); } });

function reloadVessels() {
  return loadVessels().then(() => { legend.countNow(); statusBar.showDataClock(); layer.redraw(); });
}

// Hull outlines need the vessels' dimensions: those in view, at harbour scale.
let dimsAt = "";
function loadDims() {
  if (map.getZoom() < DIMS_FROM_ZOOM) return;
  const b = map.getBounds().pad(0.3);
  const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(3)).join(",");
  if (bbox === dimsAt) return;
  dimsAt = bbox;
  api("/api/vessels/dimensions?bbox=" + bbox).then((d) => {
    Object.keys(d).forEach((k) => store.dims.set(Number(k), d[k]));
    layer.redraw();
  }).catch(() => {});
}
map.on("moveend", loadDims);

let panelTimer = null;
const live = createLive({
  positions(frame) {
    if (applyPositions(frame)) legend.countSoon();
    statusBar.showDataClock();
    layer.redraw();
    if (!panelTimer && store.selected != null) panelTimer = setTimeout(() => { panelTimer = null; panel.live(false); }, 250);
  },
  alert: (a, change) => desk.merge(a, change),
  feeds: (list, lagS) => statusBar.setFeeds(list, lagS),
  resync() { reloadVessels(); desk.load(); },
  reconnecting: () => desk.load().catch(() => {})
});
mountSession({ onLogout: () => live.close() });

const ready = Promise.all([chart.landReady, chart.loadZones(), reloadVessels(), desk.load(), watch.refresh()]).then(() => {
  live.connect();
  loadDims();
  const sel = loadPrefs("selected", { mmsi: null }).mmsi;
  if (sel != null && store.vessels.has(sel)) panel.select(sel, { fly: false });
  window.mdaMap.ready = true;
  document.documentElement.setAttribute("data-ready", "1");
});

// Hooks for tests and scripting (web/README.md lists them).
window.mdaMap = {
  map,
  ready: false,
  whenReady: () => ready,
  vesselCount: () => store.stats.drawn,
  totalVessels: () => store.vessels.size,
  vesselPosition(mmsi) { const v = store.vessels.get(mmsi); return v ? { lat: v.lat, lon: v.lon, ts: v.ts } : null; },
  selectVessel: (mmsi) => panel.select(mmsi, { fly: true }),
  alerts: () => Array.from(store.alerts.values()),
  deskOrder: () => Array.from(document.querySelectorAll("#alerts .alert")).map((li) => Number(li.getAttribute("data-id"))),
  showingNotices: () => store.showNotices,
  alarmRings() { const o = {}; store.alarmVessels.forEach((st, m) => { o[m] = st; }); return o; },
  dataClock: () => store.dataClock,
  redraw: () => layer.redraw(),
  reload: () => reloadVessels(),
  soundState: () => sound.state(),
  desk,
  replay,
  measure,
  suspensions,
  hazards,
  partnerMap,
  partnersAdmin,
  geo: { distanceNm, bearingDeg, destinationPoint, cpaTcpa },
  watched: () => Object.fromEntries(store.watched),
  refreshWatched: () => watch.refresh(),
  latLngToPoint(lat, lon) { const p = map.latLngToContainerPoint(L.latLng(lat, lon)); return { x: p.x, y: p.y }; },
  stats: () => Object.assign({ live: live.state() }, store.stats),
  drawNow() { layer._draw(); return store.stats.drawMs; }
};
