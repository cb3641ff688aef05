/* The state several modules share, in one sealed object: a reader sees all of it here,
 * each field says who writes it, and a typo cannot add a stray field. State one module
 * needs stays private to that module. */

export const store = Object.seal({
  // mmsi -> {mmsi, lat, lon, sog, cog, hdg, nav, ts, name, callsign, type} (vessels.js
  // writes; the vessel layer, legend, panel, search and desk read)
  vessels: new Map(),
  // Newest fix time seen (ms), from /api/vessels and live frames (vessels.js writes)
  dataClock: 0,
  // Class index -> true when the legend filters that class out (legend writes, layer reads)
  hiddenClasses: [],
  // MMSI of the vessel in the side panel, or null (panel writes; the layer draws brackets)
  selected: null,
  // id -> alert: desk alerts and data-quality notices (desk writes)
  alerts: new Map(),
  // mmsi -> "alarm-open" | "alarm" | "warning": the rings on the map (desk writes, layer reads)
  alarmVessels: new Map(),
  // The "Data quality (N)" toggle (data-quality panel writes; desk shows notices when on)
  showNotices: false,
  // mmsi -> {list, reason}: vessels some watch list names (watchlists.js writes; layer, panel read)
  watched: new Map(),
  // mmsi -> [to_bow, to_stern, to_port, to_starboard] of vessels in view at high zoom, for
  // hull outlines (vessel layer writes and reads)
  dims: new Map(),
  // A replay under way: {t (ms), mmsi, track} or null (replay.js writes; the layer fades
  // the live picture while it runs)
  replay: null,
  // Counters for tests and benchmarks (window.mdaMap.stats()), each bumped where it happens
  stats: { drawn: 0, drawMs: 0, draws: 0, loadMs: 0, frames: 0, alertsPushed: 0, beeps: 0, legendUpdates: 0,
    soundTests: 0, panelUpdates: 0 }
});

/** "Now" for the age of an event time (a fix, an alert's start or end, a feed's last
 *  event): the wall clock, or the data clock when the data runs ahead of it (a scenario or
 *  replay faster than real time), so a new alert never reads "0 s ago" for an hour and a
 *  last fix never lies in the future. Acknowledgements and closings are wall clock. */
export function eventNow() { return Math.max(Date.now(), store.dataClock); }
