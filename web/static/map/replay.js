/* Track replay (ux.md): one vessel, or an alert's vessels, over a period, played back on
 * the map with a time slider, play/pause and speed (10x ... 3600x); the other vessels'
 * positions at that time shown faded (GET /api/positions/at), the live picture dimmed
 * meanwhile. Tracks come time-bucketed from the database (GET /api/vessels/{mmsi}/replay). */

import { L } from "./leaflet.js";
import { api } from "./api.js";
import { byId, themeColor } from "./dom.js";
import { esc, utc } from "./format.js";
import { store } from "./store.js";

const SPEEDS = [10, 60, 600, 3600];
const OTHERS_EVERY_MS = 1000;

function isoLocalInput(ms) { return new Date(ms).toISOString().slice(0, 16); }

/** Returns {open(mmsis, {start, end}), close(), state()}. */
export function mountReplay(map, vesselLayerCanvas) {
  const bar = byId("replay-bar"), slider = byId("replay-slider"), play = byId("replay-play");
  const speedSel = byId("replay-speed"), clock = byId("replay-time"), title = byId("replay-title");
  const group = L.layerGroup(), others = L.layerGroup();
  const renderer = L.canvas({ padding: 0.2 });
  let tracks = [], t0 = 0, t1 = 0, t = 0, playing = false, speed = 600, last = 0, othersAt = 0, othersBusy = false, mmsis = [];
  SPEEDS.forEach((s) => { const o = document.createElement("option"); o.value = s; o.textContent = s + "×"; speedSel.appendChild(o); });
  speedSel.value = String(speed);

  function open(list, period = {}) {
    mmsis = list.filter((m) => m != null);
    if (!mmsis.length) return Promise.resolve();
    const v = store.vessels.get(mmsis[0]);
    const end = period.end ? Date.parse(period.end) : (v && v.ts) || store.dataClock || Date.now();
    const start = period.start ? Date.parse(period.start) : end - 24 * 3600e3;
    byId("replay-start").value = isoLocalInput(start);
    byId("replay-end").value = isoLocalInput(end);
    bar.hidden = false;
    return load();
  }

  function load() {
    const start = Date.parse(byId("replay-start").value + "Z"), end = Date.parse(byId("replay-end").value + "Z");
    if (!(start < end)) { clock.textContent = "start must be before end"; return Promise.resolve(); }
    clock.textContent = "loading…";
    const t = performance.now();
    return Promise.all(mmsis.map((m) => api("/api/vessels/" + m + "/replay?start=" + new Date(start).toISOString() +
      "&end=" + new Date(end).toISOString()))).then((list) => {
      store.stats.replayLoadMs = performance.now() - t;
      tracks = list.map((r, i) => ({ mmsi: mmsis[i], r, name: (store.vessels.get(mmsis[i]) || {}).name }));
      t0 = start; t1 = end;
      const pts = [];
      group.clearLayers(); group.addTo(map); others.addTo(map);
      const colors = [themeColor("--replay"), themeColor("--replay-2")];
      tracks.forEach((tr, i) => {
        tr.color = colors[i % 2];
        const ll = tr.r.t.map((_, k) => [tr.r.lat[k], tr.r.lon[k]]);
        pts.push(...ll);
        tr.line = L.polyline(ll, { color: tr.color, weight: 1.2, opacity: 0.5, interactive: false }).addTo(group);
        tr.done = L.polyline([], { color: tr.color, weight: 3, opacity: 0.95, interactive: false }).addTo(group);
        tr.dot = L.circleMarker(ll[0] || [0, 0], { radius: 6, color: "#000", weight: 1.5, fillColor: tr.color, fillOpacity: 1,
          interactive: false }).addTo(group);
      });
      title.innerHTML = tracks.map((tr) => '<span style="color:' + tr.color + '">■</span> ' + esc(tr.name || "MMSI " + tr.mmsi) +
        " (" + tr.r.points + " fixes)").join(" · ");
      if (pts.length) map.fitBounds(L.latLngBounds(pts), { padding: [60, 60], maxZoom: 12 });
      vesselLayerCanvas().classList.add("faded");
      store.replay = { mmsis, t0, t1 };
      seek(t0);
      return tracks;
    }).catch((e) => { clock.textContent = "Replay: " + e.message; });
  }

  function seek(ms) {
    t = Math.max(t0, Math.min(t1, ms));
    slider.value = String(Math.round(1000 * (t - t0) / Math.max(1, t1 - t0)));
    clock.textContent = utc(t);
    if (store.replay) store.replay.t = t;
    const ts = t / 1000;
    tracks.forEach((tr) => {
      const T = tr.r.t;
      let k = 0, lo = 0, hi = T.length - 1;
      if (!T.length) return;
      while (lo <= hi) { const mid = (lo + hi) >> 1; if (T[mid] <= ts) { k = mid; lo = mid + 1; } else hi = mid - 1; }
      const ll = [tr.r.lat[k], tr.r.lon[k]];
      tr.dot.setLatLng(ll);
      tr.dot.setStyle({ fillOpacity: ts < T[0] ? 0.2 : 1 });
      tr.done.setLatLngs(T.slice(0, k + 1).map((_, j) => [tr.r.lat[j], tr.r.lon[j]]));
      tr.at = { t: T[k], lat: ll[0], lon: ll[1], sog: tr.r.sog[k], cog: tr.r.cog[k] };
    });
    loadOthers();
  }

  // The others at time t, faded: at most once a second while playing.
  function loadOthers() {
    if (othersBusy || performance.now() - othersAt < OTHERS_EVERY_MS) return;
    othersBusy = true; othersAt = performance.now();
    const b = map.getBounds(), at = t;
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(4)).join(",");
    api("/api/positions/at?t=" + new Date(at).toISOString() + "&window=900&bbox=" + bbox).then((r) => {
      others.clearLayers();
      const mine = new Set(mmsis), color = themeColor("--muted");
      r.vessels.forEach((row) => {
        if (mine.has(row[0])) return;
        L.circleMarker([row[1], row[2]], { renderer, radius: 3, weight: 0, fillColor: color, fillOpacity: 0.45, interactive: false }).addTo(others);
      });
      store.stats.replayOthers = r.vessels.length;
    }).catch(() => {}).finally(() => { othersBusy = false; });
  }

  function frame(now) {
    if (!playing) return;
    const dt = last ? now - last : 0; last = now;
    seek(t + dt * speed);
    if (t >= t1) { toggle(false); return; }
    requestAnimationFrame(frame);
  }
  function toggle(on) {
    playing = on == null ? !playing : on;
    play.textContent = playing ? "❚❚ Pause" : "▶ Play";
    play.setAttribute("aria-pressed", String(playing));
    if (playing) { if (t >= t1) seek(t0); last = 0; requestAnimationFrame(frame); }
  }
  function close() {
    toggle(false); group.clearLayers(); others.clearLayers(); map.removeLayer(group); map.removeLayer(others);
    bar.hidden = true; store.replay = null; tracks = [];
    vesselLayerCanvas().classList.remove("faded");
  }

  play.addEventListener("click", () => toggle());
  speedSel.addEventListener("change", () => { speed = Number(speedSel.value); });
  slider.addEventListener("input", () => { seek(t0 + (t1 - t0) * Number(slider.value) / 1000); });
  byId("replay-load").addEventListener("click", load);
  byId("replay-close").addEventListener("click", close);
  return { open, close, seek, state: () => ({ t, t0, t1, playing, tracks: tracks.map((tr) => ({ mmsi: tr.mmsi, points: tr.r.points, at: tr.at })) }) };
}
