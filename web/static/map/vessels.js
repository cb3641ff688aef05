/* Vessel data: the latest fix and static data of each vessel, from /api/vessels and from
 * live frames, into store.vessels; the data clock follows the newest fix. */

import { api } from "./api.js";
import { store } from "./store.js";

// Record a fix; never moves a vessel back in time (a late duplicate from another receiver).
function upsertVessel(mmsi, lat, lon, sog, cog, hdg, nav, tsMs) {
  let v = store.vessels.get(mmsi);
  if (!v) { v = { mmsi, name: null, callsign: null, type: null }; store.vessels.set(mmsi, v); }
  else if (v.ts && tsMs < v.ts) return v;
  v.lat = lat; v.lon = lon; v.sog = sog; v.cog = cog; v.hdg = hdg; v.nav = nav; v.ts = tsMs;
  v.px = null;  // its projected point is stale
  if (tsMs > store.dataClock) store.dataClock = tsMs;
  return v;
}

/** Every vessel's latest position (GET /api/vessels); vessels no longer listed leave. */
export function loadVessels() {
  const t0 = performance.now();
  return api("/api/vessels").then((fc) => {
    const seen = new Set();
    fc.features.forEach((f) => {
      const p = f.properties, c = f.geometry.coordinates;
      const v = upsertVessel(p.mmsi, c[1], c[0], p.sog, p.cog, p.heading, p.nav_status, Date.parse(p.last_seen));
      v.name = p.name; v.callsign = p.callsign; v.type = p.ship_type;
      seen.add(p.mmsi);
    });
    store.vessels.forEach((v, m) => { if (!seen.has(m)) store.vessels.delete(m); });
    store.stats.loadMs = performance.now() - t0;
  });
}

/** A live "positions" frame: rows [mmsi, lat, lon, sog, cog, heading, nav_status, time (s)]
 *  and static data by MMSI. True when the legend's counts changed (a vessel appeared or
 *  changed type). */
export function applyPositions(frame) {
  const known = store.vessels.size;
  frame.vessels.forEach((r) => upsertVessel(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] * 1000));
  let retyped = false;
  Object.keys(frame.statics || {}).forEach((k) => {
    const v = store.vessels.get(Number(k)), s = frame.statics[k];
    if (!v) return;
    if (s.name != null) v.name = s.name;
    if (s.callsign != null) v.callsign = s.callsign;
    if (s.ship_type != null && s.ship_type !== v.type) { v.type = s.ship_type; retyped = true; }
  });
  return store.vessels.size !== known || retyped;
}
