/* The alert desk (ux.md): cards newest first with relative times, the Active and History
 * views, acknowledge and close, the alarm banner and the rings on the map, and the sound
 * for a new or reopened alarm. Shared acknowledgement: every change, ours or another
 * console's, arrives as an alert and is merged. */

import { api } from "./api.js";
import { OUTCOME_TEXT, PRIORITY_LABEL, alertVesselName, criteria, inHistory, isNotice, kindLabel, priorityOf,
  ringing } from "./alerts.js";
import { mountCloseDialog } from "./close-dialog.js";
import { byId, el, themeColor } from "./dom.js";
import { ago, esc, hhmm, localTitle, utc } from "./format.js";
import { flagOf } from "./ships.js";
import { eventNow, store } from "./store.js";

const RELATIVE_TIMES_EVERY_MS = 20000;
const DESK_LIMIT = 500;

/** deps: map, layer (redrawn when rings change), sound, panel ({select, showAlertCount}),
 *  canAcknowledge, onNoticesLoaded() and onLiveNotice() for the data-quality panel.
 *  Returns {load, render, merge, show, anyRinging, toast}. */
export function mountDesk({ map, layer, sound, panel, canAcknowledge, onNoticesLoaded, onLiveNotice }) {
  const list = byId("alerts"), banner = byId("alarm-banner");
  let view = "active";          // "active" or "history"
  let selectedId = null;        // the card last shown on the map
  const dialog = mountCloseDialog({ onClosed: (a) => merge(a), onError: toast });

  function load() {
    const status = view === "active" ? "open,acknowledged" : "closed,acknowledged";
    // The desk's alerts (the API leaves notices out by default), and the notices of the
    // last 24 h apart, for the "Data quality (N)" toggle.
    return Promise.all([api("/api/alerts?status=" + status + "&limit=" + DESK_LIMIT),
                        api("/api/alerts?severity=info&status=" + status + "&since=-24h&limit=" + DESK_LIMIT)])
      .then((bodies) => {
        if (view === "active") store.alerts.forEach((a, id) => { if (a.status !== "closed") store.alerts.delete(id); });
        bodies.forEach((body) => body.alerts.forEach((a) => store.alerts.set(a.id, a)));
        render(); showAlarms();
        onNoticesLoaded();
      });
  }

  function render() {
    const shown = [];
    let notices = 0;
    store.alerts.forEach((a) => {
      if (view === "active" ? inHistory(a) : !inHistory(a)) return;
      if (isNotice(a)) { notices++; if (!store.showNotices) return; }
      shown.push(a);
    });
    byId("dq-count").textContent = notices;
    shown.sort((x, y) => Date.parse(y.start) - Date.parse(x.start) || y.id - x.id);
    list.innerHTML = "";
    const now = eventNow(), wall = Date.now();  // event times on the data clock; ours on the wall clock
    shown.forEach((a) => list.appendChild(card(a, now, wall, a.id === selectedId, canAcknowledge)));
    const empty = byId("alerts-empty");
    empty.hidden = shown.length > 0;
    empty.textContent = view === "active" ? "No active alerts." : "Nothing in history (closed, or ended and acknowledged).";
    let active = 0;
    store.alerts.forEach((a) => { if (!inHistory(a) && !isNotice(a)) active++; });
    byId("alert-count").textContent = active;
    panel.showAlertCount();
  }

  /** An alert from the server (a live push, or the answer to our acknowledge or close). */
  function merge(a, change) {
    const old = store.alerts.get(a.id);
    if (old && Date.parse(old.updated_at) > Date.parse(a.updated_at)) return;  // older news
    if (old && !a.vessel_name) a.vessel_name = old.vessel_name;
    store.alerts.set(a.id, a);
    render(); showAlarms();
    if (isNotice(a)) { onLiveNotice(); return; }  // a notice never sounds
    // A new alarm sounds, and so does one whose situation came back (reopened).
    if (((!old && change === "opened") || change === "reopened") && ringing(a)) sound.beep();
  }

  // Vessels in alarm get a ring on the map; the banner shows while alarms are open. An
  // alert whose episode has ended rings nothing: it waits, calm, on the desk.
  function showAlarms() {
    const counts = ringVessels(store.alerts, store.alarmVessels);
    showBanner(banner, counts);
    layer.redraw();
  }

  // On the map: fly there, select the vessel and draw its track around the alert, the
  // evidence highlighted in the alert's colour.
  function show(a) {
    selectedId = a.id; render();
    const start = Date.parse(a.start), end = a.end ? Date.parse(a.end) : Math.max(store.dataClock, start);
    const margin = Math.max(30 * 60e3, (end - start) * 0.25);
    const v = store.vessels.get(a.mmsi);
    const where = a.lat != null ? [a.lat, a.lon] : v ? [v.lat, v.lon] : null;
    if (where) map.flyTo(where, Math.max(map.getZoom(), 10), { duration: 0.8 });
    if (!a.mmsi) return;
    const color = themeColor(priorityOf(a) === "alarm" ? "--alarm" : isNotice(a) ? "--notice" : "--warning");
    panel.select(a.mmsi, { fly: false, track: { start: new Date(start - margin).toISOString(),
      end: new Date(end + margin).toISOString(), highlight: [start, end, color], fit: true } });
  }

  function acknowledge(a) {
    return api("/api/alerts/" + a.id + "/ack", { method: "POST", body: { note: null } })
      .then((updated) => merge(updated))
      .catch((e) => toast("Acknowledge failed: " + e.message));
  }

  function anyRinging() {
    for (const a of store.alerts.values()) if (ringing(a)) return true;
    return false;
  }

  list.addEventListener("click", (e) => {
    const li = e.target.closest(".alert"); if (!li) return;
    const a = store.alerts.get(Number(li.getAttribute("data-id"))); if (!a) return;
    const act = e.target.getAttribute("data-act");
    sound.unlock();
    if (act === "ack") { e.stopPropagation(); acknowledge(a); return; }
    if (act === "close") { e.stopPropagation(); dialog.ask(a); return; }
    show(a);
  });
  document.querySelector("#desk .tabs").addEventListener("click", function (e) {
    const v = e.target.getAttribute("data-view"); if (!v) return;
    view = v;
    this.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b === e.target));
    load();
  });
  banner.addEventListener("click", () => {  // to the newest ringing alarm
    let newest = null;
    store.alerts.forEach((a) => { if (ringing(a) && (!newest || a.start > newest.start)) newest = a; });
    if (newest) show(newest);
  });
  setInterval(() => { if (view === "active") render(); }, RELATIVE_TIMES_EVERY_MS);  // "12 min ago" moves on
  return { load, render, merge, show, anyRinging, toast };
}

// A message where the empty desk's line is (and in the console).
function toast(msg) {
  console.warn(msg);
  const b = byId("alerts-empty");
  b.hidden = false; b.textContent = msg;
}

// Fill rings (mmsi -> "alarm-open" | "alarm" | "warning", the strongest per vessel) from the
// alerts still going on; returns the alarms counted {open, acked}. Notices never ring.
function ringVessels(alerts, rings) {
  rings.clear();
  let open = 0, acked = 0;
  alerts.forEach((a) => {
    if (a.status === "closed" || a.end != null || !a.mmsi || isNotice(a)) return;
    const prio = priorityOf(a);
    const st = prio === "alarm" ? (a.status === "open" ? "alarm-open" : "alarm") : "warning";
    const cur = rings.get(a.mmsi);
    if (!cur || st === "alarm-open" || (st === "alarm" && cur === "warning")) rings.set(a.mmsi, st);
    if (prio === "alarm") { if (a.status === "open") open++; else acked++; }
  });
  return { open, acked };
}

// Flashing while any alarm is unacknowledged, steady once all are acknowledged.
function showBanner(banner, { open, acked }) {
  if (open) {
    banner.hidden = false; banner.className = "flash";
    banner.textContent = "⚠ " + open + " ALARM" + (open > 1 ? "S" : "") + " UNACKNOWLEDGED";
  } else if (acked) {
    banner.hidden = false; banner.className = "steady";
    banner.textContent = acked + " alarm" + (acked > 1 ? "s" : "") + " acknowledged";
  } else banner.hidden = true;
}

function card(a, now, wall, selected, canAcknowledge) {
  const prio = priorityOf(a);
  const li = el("li", { "class": "alert " + prio + " " + a.status + (a.end != null ? " ended" : "") +
    (ringing(a) ? " flash" : "") + (selected ? " selected" : ""), "data-id": a.id });
  const what = criteria(a), state = stateLine(a, now, wall);
  li.innerHTML = headLine(a, prio, now) + vesselLine(a) +
    (what ? '<div class="criteria">' + esc(what) + "</div>" : "") +
    (isNotice(a) && a.details && a.details.source ? '<div class="source">from ' + esc(a.details.source) + "</div>" : "") +
    (state ? '<div class="state">' + state + "</div>" : "") +
    actions(a, canAcknowledge);
  return li;
}

function headLine(a, prio, now) {
  return '<div class="row1"><span class="prio">' + PRIORITY_LABEL[prio] + '</span><span class="kind">' +
    esc(kindLabel(a.kind)) + '</span><span class="when" title="' + esc(utc(a.start) + " · " + localTitle(a.start)) + '">' +
    ago(now - Date.parse(a.start)) + "</span></div>";
}

function vesselLine(a) {
  const name = alertVesselName(a), flag = a.mmsi ? flagOf(a.mmsi) : "";
  return '<div class="vessel">' + (name ? "<b>" + esc(name) + "</b> · " : "") +
    (a.mmsi ? '<span class="mono">' + a.mmsi + "</span>" : "") +
    (flag ? '<span class="flag">' + flag + "</span>" : "") + (a.other_mmsi ? " ⇄ " + a.other_mmsi : "") +
    (a.zone ? " · " + esc(a.zone) : "") + "</div>";
}

// Where the alert stands: ended when, acknowledged or closed by whom (with the outcome and
// note). A notice is a fact about the data, mostly of one instant: no "ended" unless it
// lasted, and never "not acknowledged" (nobody needs to).
function stateLine(a, now, wall) {
  const parts = [], notice = isNotice(a);
  if (a.end != null && !(notice && a.end === a.start)) {
    parts.push('<span class="ended-at" title="' + esc(utc(a.end) + " · " + ago(now - Date.parse(a.end)) + " · " +
      localTitle(a.end)) + '">ended ' + hhmm(a.end) + "</span>");
  }
  if (a.status === "acknowledged") {
    parts.push("Acknowledged by " + esc(a.acknowledged_by) + " · " + ago(wall - Date.parse(a.acknowledged_at)));
  } else if (a.status === "closed") {
    parts.push("Closed by " + esc(a.closed_by) + (a.outcome ? ' · <span class="outcome ' + esc(a.outcome) + '">' +
      esc(OUTCOME_TEXT[a.outcome] || a.outcome) + "</span>" : "") + (a.note ? ": “" + esc(a.note) + "”" : ""));
  } else if (a.end != null && !notice) parts.push("not acknowledged");
  return parts.join(" · ");
}

// Officers act on what is not closed (a notice needs no acknowledgement); everyone can show it.
function actions(a, canAcknowledge) {
  const show = '<button type="button" data-act="show">Show</button>';
  if (a.status === "closed" || !canAcknowledge) return '<div class="actions">' + show + "</div>";
  return '<div class="actions">' +
    (a.status === "open" && !isNotice(a) ? '<button type="button" class="ack" data-act="ack">Acknowledge</button>' : "") +
    '<button type="button" data-act="close">Close…</button>' + show + "</div>";
}
