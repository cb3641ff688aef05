/* What is always in view: the UTC clock, feed chips with the age of their last message,
 * and the status bar (pointer position, zoom, the data clock when it runs ahead). The live
 * connection's own indicator is kept by live.js. */

import { byId, el } from "./dom.js";
import { age, ago, esc, hhmm, hhmmss, latlonText, utc } from "./format.js";
import { L } from "./leaflet.js";
import { eventNow, store } from "./store.js";

const DEAD_AFTER_S = 900, QUIET_AFTER_S = 120;  // a feed chip's colour by its last message's age
const BEHIND_AFTER_S = 5;  // the service's lag (status frames' lag_s) shown past this

/** Returns {setFeeds(feeds), showFeeds(), showDataClock(), showClock()}. */
export function mountStatusBar(map) {
  const zoom = byId("zoom");
  map.on("mousemove", (e) => {
    byId("cursor").textContent = latlonText(e.latlng.lat, L.Util.wrapNum(e.latlng.lng, [-180, 180], true));
  });
  map.on("zoomend", () => { zoom.textContent = "z " + map.getZoom(); });
  zoom.textContent = "z " + map.getZoom();

  // The feeds as the server last reported them (the hello and status frames), and when:
  // between reports a running feed's ages grow with the wall clock.
  let feeds = [], feedsAt = 0, lag = null;
  function setFeeds(list, lagS) { feeds = list || []; lag = lagS; feedsAt = Date.now(); showFeeds(); }
  function showFeeds() { renderFeeds(byId("feeds"), feeds, (Date.now() - feedsAt) / 1000, lag); }
  showClock();  // at once, not a second after the page opens
  return { setFeeds, showFeeds, showDataClock, showClock };
}

function showClock() { byId("clock").textContent = hhmmss(new Date()) + " UTC"; }

function renderFeeds(box, feeds, sinceS, lag) {
  if (!feeds.length) {
    box.innerHTML = '<span class="feed none" title="no feed is configured in this process">no live feed</span>';
    return;
  }
  box.innerHTML = "";
  feeds.forEach((f) => box.appendChild(feedChip(f, sinceS)));
  // Never silently behind: the service's own lag (decoded but not yet stored or analysed).
  if (lag != null && lag > BEHIND_AFTER_S) {
    box.appendChild(el("span", { "class": "feed behind " + (lag > 60 ? "dead" : "quiet"),
      title: "decoded messages wait this long before they are stored and analysed: the service is not keeping up with its feeds" },
      '<span class="dot"></span>behind by ' + Math.round(lag) + " s"));
  }
}

// Always in view: the feed's name and its last message's age (wall clock); on hover its
// state, error and the time and age of its last event (data clock).
function feedChip(f, sinceS) {
  const growing = f.state === "running" || f.state === "quiet";
  const a = f.last_message_age_s == null ? null : f.last_message_age_s + (growing ? sinceS : 0);
  // A partner's feed (partners' alerts in) is "stale" while its broker or publisher is away.
  const cls = f.state === "failed" || f.state === "stale" || a == null || a > DEAD_AFTER_S ? "dead" :
    a > QUIET_AFTER_S || f.state === "quiet" ? "quiet" : "";
  const last = f.last_event_ts != null ?
    " · last event " + utc(f.last_event_ts * 1000) + " (" + ago(eventNow() - f.last_event_ts * 1000) + ")" : "";
  const title = (f.uri ? f.name + " · " + f.state + (f.error ? " · " + f.error : "") : f.name) + last;
  return el("span", { "class": "feed " + cls, title },
    '<span class="dot"></span>' + esc(f.name) + ' <span class="age">' + (f.state === "stale" ? "stale" : age(a)) + "</span>");
}

// The data time, shown only when it runs ahead of the wall clock by more than a minute (a
// scenario or replay faster than real time), so relative ages are not misread.
function showDataClock() {
  const box = byId("data-clock"), clock = store.dataClock;
  const ahead = clock - Date.now() > 60e3;
  box.hidden = !ahead;
  if (!ahead) return;
  box.textContent = "data time " + hhmm(clock) + " (ahead of clock)";
  box.title = "Newest fix " + utc(clock) + ", " + Math.round((clock - Date.now()) / 60e3) +
    " min ahead of this computer's clock: ages of fixes and alerts are measured from it.";
}
