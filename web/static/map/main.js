/* mda watch console: the live map and the alert desk. This module wires the others.
 *
 * Everything is served by the app (Leaflet vendored, land polygons shipped): no request
 * leaves this server unless an online tile layer is configured. Times are UTC. State the
 * modules share lives in store.js; each module keeps the rest to itself.
 *
 * Test and automation hooks: window.mdaMap (vesselCount, vesselPosition, ...). */

import { createChart } from "./chart.js";
import { config } from "./config.js";
import { mountDataQuality } from "./data-quality.js";
import { mountDesk } from "./desk.js";
import { mountLegend } from "./legend.js";
import { createLive } from "./live.js";
import { mountSearch } from "./search.js";
import { mountSound } from "./sound.js";
import { mountStatusBar } from "./status-bar.js";
import { store } from "./store.js";
import { mountTheme } from "./theme.js";
import { VesselLayer, followPointer } from "./vessel-layer.js";
import { mountVesselPanel } from "./vessel-panel.js";
import { applyPositions, loadVessels } from "./vessels.js";

// Mounting order shows on the map: it sets the controls' order in their corners, and the
// vessel canvas enters the overlay pane before the canvases Leaflet adds there as land,
// zones and tracks arrive (which therefore stack above it).
const chart = createChart(config);
const map = chart.map;
const legend = mountLegend({ onFilter: () => layer.redraw() });  // a click, once the layer exists
const layer = new VesselLayer({ onDrawn: legend.showDrawn }).addTo(map);
chart.addControls(layer);
const statusBar = mountStatusBar(map);
const panel = mountVesselPanel({ map, layer });
followPointer(map, layer, { onPick: (mmsi) => panel.select(mmsi, { fly: false }) });
mountSearch({ onPick: (mmsi) => panel.select(mmsi, { fly: true }) });
const sound = mountSound();
// The data-quality panel and the desk call each other (the toggle re-renders the desk, a
// live notice recounts the panel): the panel's callbacks run only on a click, after both exist.
const dataQuality = mountDataQuality({ onToggle: () => desk.render(), show: (a) => desk.show(a),
  toast: (text) => desk.toast(text) });
const desk = mountDesk({ map, layer, sound, panel, canAcknowledge: !!config.can_acknowledge,
  onNoticesLoaded: dataQuality.refresh, onLiveNotice: dataQuality.refreshSoon });

setInterval(everySecond, 1000);
function everySecond() {
  statusBar.showClock(); statusBar.showFeeds(); sound.showSilence(); statusBar.showDataClock();
  if (!desk.anyRinging()) return;
  sound.repeat();   // until acknowledged, unless silenced
  layer.redraw();   // the flashing rings
}

mountTheme({ onChange: () => { chart.restyle(); layer.redraw(); } });

function reloadVessels() {
  return loadVessels().then(() => { legend.countNow(); statusBar.showDataClock(); layer.redraw(); });
}

const live = createLive({
  positions(frame) {
    if (applyPositions(frame)) legend.countSoon();
    statusBar.showDataClock();
    layer.redraw();
  },
  alert: (a, change) => desk.merge(a, change),
  feeds: (list) => statusBar.setFeeds(list),
  resync() { reloadVessels(); desk.load(); },
  reconnecting: () => desk.load().catch(() => {})
});

const ready = Promise.all([chart.landReady, chart.loadZones(), reloadVessels(), desk.load()]).then(() => {
  live.connect();
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
  showingNotices: () => store.showNotices,
  alarmRings() { const o = {}; store.alarmVessels.forEach((st, m) => { o[m] = st; }); return o; },
  dataClock: () => store.dataClock,
  redraw: () => layer.redraw(),
  reload: () => reloadVessels(),
  stats: () => Object.assign({ live: live.state() }, store.stats),
  drawNow() { layer._draw(); return store.stats.drawMs; }
};
