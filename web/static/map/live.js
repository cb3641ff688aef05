/* The live socket (WS /api/live): positions, alerts and feed status as the server pushes
 * them; reconnects with backoff and jitter, catching up on alerts missed meanwhile, and
 * sends the login page a session that has ended. Frames arrive several times a second: the
 * handlers coalesce their work (the vessel layer draws once per animation frame, the
 * legend recounts at most once a second). */

import { toLogin } from "./api.js";
import { byId } from "./dom.js";
import { store } from "./store.js";

const BACKOFF_FIRST_MS = 1000, BACKOFF_MAX_MS = 30000;
const PING_EVERY_MS = 25000;        // keeps proxies from closing an idle socket
const CLOSE_LOGGED_OUT = 4401;      // the login ended (logout, user disabled, token revoked)

const plusUtc = (t) => (typeof t === "string" && t.endsWith("Z") ? t.slice(0, -1) + "+00:00" : t);

/** The desk's alert object (the fields of GET /api/alerts) from an alert frame: the alert
 *  change as its CloudEvent (msg.event, the one wire format of an alert, which partners get
 *  on MQTT) and the desk's own fields beside it (msg.desk: key, details, handling, stored).
 *  The only place that reads the frame; as web/live.py's alert_of_frame. */
export function alertOf(msg) {
  const data = msg.event.data, p = data.properties, g = data.geometry;
  return Object.assign({}, msg.desk, {
    id: p.id, kind: p.kind, severity: p.severity, status: p.status, mmsi: p.mmsi,
    other_mmsi: p.other_mmsi, start: plusUtc(p.start), end: plusUtc(p.end),
    lat: g ? g.coordinates[1] : null, lon: g ? g.coordinates[0] : null,
    zone: p.zone, vessel_name: p.vessel_name,
  });
}

/** handlers: positions(frame), alert(alert, change), feeds(list), resync() when the server
 *  dropped frames for us, reconnecting() before each new attempt.
 *  Returns {connect(), close(), state()}. */
export function createLive(handlers) {
  let ws = null, backoff = BACKOFF_FIRST_MS, state = "connecting", closed = false;

  function show(s) {
    state = s;
    const e = byId("live-state");
    e.className = s === "live" ? "ok" : "bad";
    e.textContent = s === "live" ? "● LIVE" : "● " + s;
  }
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/api/live");
    ws.onopen = () => { backoff = BACKOFF_FIRST_MS; show("live"); };
    ws.onmessage = (ev) => dispatch(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      if (closed) { show("logged out"); return; }
      if (ev && ev.code === CLOSE_LOGGED_OUT) { show("logged out"); toLogin(); return; }
      show("reconnecting");
      setTimeout(() => { handlers.reconnecting(); connect(); }, backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS) * (0.75 + Math.random() * 0.5);
    };
  }
  function dispatch(msg) {
    if (msg.type === "positions") { store.stats.frames++; handlers.positions(msg); }
    else if (msg.type === "alert") { store.stats.alertsPushed++; handlers.alert(alertOf(msg), msg.change); }
    else if (msg.type === "status" || msg.type === "hello") handlers.feeds(msg.feeds || [], msg.lag_s);
    else if (msg.type === "resync") handlers.resync();
  }
  setInterval(() => { if (ws && ws.readyState === 1) ws.send("ping"); }, PING_EVERY_MS);
  /** End the stream for good (logged out): no reconnect. */
  function close() { closed = true; if (ws) ws.close(); show("logged out"); }
  return { connect, close, state: () => state };
}
