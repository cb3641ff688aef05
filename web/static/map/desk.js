/* The alert desk (ux.md): cards ordered by what needs action, the Active and History
 * views, acknowledge and close (one by one or the ended ones in bulk), filters by kind and
 * severity, the alarm banner and the rings on the map, and the sound for a new or reopened
 * alarm. Shared acknowledgement: every change, ours or another console's, arrives as an
 * alert and is merged.
 *
 * Cards are updated in place: a card is made once per alert and only its changed parts are
 * rewritten, so focus, hover and a click under way survive the updates that arrive several
 * times a second. While the pointer moves over the list (or a button is pressed) no card
 * moves: new cards wait below and the order is put right once the pointer rests or leaves.
 *
 * Actions: each card's `.actions` holds its buttons; another module adds its own with
 * `desk.addAction((alert, actionsElement) => ...)`, called whenever a card's buttons are
 * (re)built (extract.js uses it). */

import { api } from "./api.js";
import { OUTCOME_TEXT, alertVesselName, arrival, compareDesk, criteria, inHistory, isDistress, isNotice, isPartnerAlert,
  kindLabel, priorityLabel, priorityOf, ringing } from "./alerts.js";
import { config } from "./config.js";
import { mountCloseDialog } from "./close-dialog.js";
import { byId, el, themeColor } from "./dom.js";
import { ago, esc, hhmm, localTitle, utc } from "./format.js";
import { loadPrefs, savePrefs } from "./prefs.js";
import { flagOf } from "./ships.js";
import { eventNow, store } from "./store.js";

const RELATIVE_TIMES_EVERY_MS = 20000;
const DESK_LIMIT = 500;
const HOLD_AFTER_MOVE_MS = 1200;  // the order holds this long after the pointer last moved over the list
const SEVERITIES = ["critical", "high", "medium", "low"];

/** deps: map, layer (redrawn when rings change), sound, panel ({select, showAlertCount}),
 *  canAcknowledge, onNoticesLoaded() and onLiveNotice() for the data-quality panel,
 *  onAlerts() after the alerts changed (the partners' alert markers).
 *  Returns {load, render, merge, show, anyRinging, toast, focusCard, act, addAction, view}. */
export function mountDesk({ map, layer, sound, panel, canAcknowledge, onNoticesLoaded, onLiveNotice, onAlerts }) {
  const list = byId("alerts"), banner = byId("alarm-banner");
  const prefs = loadPrefs("desk", { view: "active", kinds: [], severities: [] });
  let view = prefs.view === "history" ? "history" : "active";
  let selectedId = null;        // the card last shown on the map
  const cards = new Map();      // id -> {li, parts: {...signatures}}
  const fresh = new Set();      // ids that arrived live and nobody looked at yet ("new")
  const pending = new Set();    // ids with an acknowledge under way
  const actionHooks = [];
  const filter = { kinds: new Set(prefs.kinds || []), severities: new Set(prefs.severities || []) };
  let pointerIn = false, pointerDown = false, lastMove = 0, holdTimer = null;
  let renderedAt = 0;           // the clock (eventNow) the cards last read their ages on
  const dialog = mountCloseDialog({ onClosed: (rows) => rows.forEach((a) => merge(a)), onError: toast });

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

  function matches(a) {
    if (filter.kinds.size && !filter.kinds.has(a.kind)) return false;
    if (filter.severities.size && !isNotice(a) && !filter.severities.has(a.severity)) return false;
    return true;
  }

  function visibleAlerts() {
    const shown = [];
    let notices = 0, hidden = 0;
    store.alerts.forEach((a) => {
      if (view === "active" ? inHistory(a) : !inHistory(a)) return;
      if (isNotice(a)) { notices++; if (!store.showNotices) return; }
      if (!matches(a)) { hidden++; return; }
      shown.push(a);
    });
    if (view === "active") shown.sort(compareDesk);
    else shown.sort((x, y) => Date.parse(y.closed_at || y.updated_at) - Date.parse(x.closed_at || x.updated_at) || y.id - x.id);
    return { shown, notices, hidden };
  }

  function held() { return pointerDown || (pointerIn && Date.now() - lastMove < HOLD_AFTER_MOVE_MS); }

  function render() {
    const { shown, notices, hidden } = visibleAlerts();
    byId("dq-count").textContent = notices;
    const now = eventNow(), wall = Date.now();  // event times on the data clock; ours on the wall clock
    renderedAt = now;
    const focused = document.activeElement;
    const hold = held();
    const want = new Set(shown.map((a) => a.id));
    // Cards no longer shown leave (unless the list is held: then they wait, greyed).
    cards.forEach((c, id) => {
      if (want.has(id)) return;
      if (hold && c.li.isConnected) { c.li.classList.add("leaving"); return; }
      c.li.remove(); cards.delete(id);
    });
    const order = [];
    shown.forEach((a) => {
      let c = cards.get(a.id);
      if (!c) { c = makeCard(a); cards.set(a.id, c); }
      updateCard(c, a, now, wall);
      c.li.classList.remove("leaving");
      order.push(c.li);
    });
    if (hold) {
      // Nothing moves under the pointer: new cards go to the end until it rests.
      order.forEach((li) => { if (!li.isConnected) list.appendChild(li); });
      scheduleUnhold();
    } else {
      order.forEach((li, i) => { if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null); });
      while (list.children.length > order.length) list.lastElementChild.remove();
    }
    if (focused && focused !== document.activeElement && focused.isConnected) focused.focus({ preventScroll: true });
    const empty = byId("alerts-empty");
    empty.hidden = shown.length > 0;
    empty.textContent = (view === "active" ? "No active alerts" : "Nothing in history (closed, or ended and acknowledged)") +
      (hidden ? " matching the filters (" + hidden + " hidden)." : ".");
    let active = 0;
    store.alerts.forEach((a) => { if (!inHistory(a) && !isNotice(a)) active++; });
    byId("alert-count").textContent = active;
    byId("filter-hidden").textContent = hidden ? hidden + " hidden by filters" : "";
    showBulk(shown);
    panel.showAlertCount();
  }

  function scheduleUnhold() {
    if (holdTimer) return;
    holdTimer = setTimeout(() => { holdTimer = null; if (held()) scheduleUnhold(); else render(); }, 400);
  }

  // ---------------------------------------------------------------- cards
  function makeCard(a) {
    const li = el("li", { "data-id": a.id, tabindex: "-1" });
    li.innerHTML = '<div class="row1"><span class="prio"></span><span class="kind"></span><span class="new" hidden>NEW</span>' +
      '<span class="when"></span></div><div class="vessel"></div><div class="criteria"></div><div class="source" hidden></div>' +
      '<div class="state"></div><div class="actions"></div><div class="timeline" hidden></div>';
    const parts = {};
    ["prio", "kind", "new", "when", "vessel", "criteria", "source", "state", "actions"].forEach((k) => {
      parts[k] = li.querySelector("." + k);
    });
    return { li, parts, sig: {} };
  }

  function set(c, key, sig, fn) {  // rewrite one part only when what it shows changed
    if (c.sig[key] === sig) return;
    c.sig[key] = sig; fn();
  }

  function updateCard(c, a, now, wall) {
    const prio = priorityOf(a), p = c.parts, li = c.li;
    const cls = "alert " + prio + " sev-" + a.severity + " " + a.status + (a.end != null ? " ended" : "") +
      (ringing(a) ? " flash" : "") + (a.id === selectedId ? " selected" : "") + (isDistress(a) ? " distress" : "") +
      (pending.has(a.id) ? " pending" : "") + (isPartnerAlert(a) ? " partner" : "");
    if (li.className !== cls) li.className = cls;
    li.setAttribute("aria-label", priorityLabel(a) + " " + kindLabel(a.kind) + ", " + (alertVesselName(a) || a.mmsi || "") +
      ", " + a.status + (a.end != null ? ", ended" : ""));
    set(c, "prio", priorityLabel(a), () => { p.prio.textContent = priorityLabel(a); });
    set(c, "kind", a.kind, () => { p.kind.textContent = kindLabel(a.kind); });
    p.new.hidden = !fresh.has(a.id);
    const when = ago(now - Date.parse(a.start));  // the episode's age, on the data clock
    if (p.when.textContent !== when) p.when.textContent = when;
    set(c, "whenTitle", a.start + a.created_at, () => {
      p.when.title = "started " + utc(a.start) + " · on the desk since " + utc(arrival(a)) + " · " + localTitle(a.start);
    });
    const other = a.other_mmsi ? store.vessels.get(a.other_mmsi) : null;
    set(c, "vessel", [alertVesselName(a), a.mmsi, a.other_mmsi, other && other.name, a.zone].join("|"),
      () => { p.vessel.innerHTML = vesselLine(a); });
    const what = criteria(a);
    set(c, "criteria", what, () => { p.criteria.textContent = what; p.criteria.hidden = !what; });
    const origin = partnerOrigin(a);  // a partner's alert (its feed): whose, read-only here
    const src = origin ? "from partner " + origin.partner + (origin.country ? " " + countryFlag(origin.country) : "") +
      " · read-only" : isNotice(a) && a.details && a.details.source ? "from " + a.details.source : "";
    set(c, "source", src, () => { p.source.textContent = src; p.source.hidden = !src; });
    const state = stateLine(a, now, wall);
    set(c, "state", state, () => { p.state.innerHTML = state; p.state.hidden = !state; });
    set(c, "actions", [a.status, a.end != null, pending.has(a.id), view].join("|"), () => {
      const hadFocus = p.actions.contains(document.activeElement);
      p.actions.innerHTML = actions(a, canAcknowledge, pending.has(a.id), view);
      actionHooks.forEach((hook) => { try { hook(a, p.actions); } catch (e) { console.warn("desk action hook:", e); } });
      if (hadFocus) li.focus({ preventScroll: true });
    });
  }

  function vesselLine(a) {
    const link = (mmsi, name) => {
      const flag = flagOf(mmsi);
      return '<button type="button" class="vessel-link" data-mmsi="' + mmsi + '" title="Show this vessel">' +
        (name ? "<b>" + esc(name) + "</b> · " : "") + '<span class="mono">' + mmsi + "</span>" +
        (flag ? '<span class="flag">' + flag + "</span>" : "") + "</button>";
    };
    const other = a.other_mmsi ? store.vessels.get(a.other_mmsi) : null;
    return (a.mmsi ? link(a.mmsi, alertVesselName(a)) : "") +
      (a.other_mmsi ? ' <span class="pair">⇄</span> ' + link(a.other_mmsi, other && other.name) : "") +
      (a.zone ? " · " + esc(a.zone) : "");
  }

  // ---------------------------------------------------------------- changes
  /** An alert from the server (a live push, or the answer to our acknowledge or close). */
  function merge(a, change) {
    const old = store.alerts.get(a.id);
    if (old && Date.parse(old.updated_at) > Date.parse(a.updated_at)) return;  // older news
    if (old && !a.vessel_name) a.vessel_name = old.vessel_name;
    // Raised while the database was away (stored: false, a negative id): the stored alert
    // replaces it once it is in, and does not ring a second time.
    let announced = false;
    if (a.id > 0) store.alerts.forEach((o, id) => {
      if (id < 0 && o.key === a.key) { announced = true; store.alerts.delete(id); fresh.delete(id); }
    });
    store.alerts.set(a.id, a);
    if (change === "opened" || change === "reopened") fresh.add(a.id);
    if (a.status !== "open") fresh.delete(a.id);
    render(); showAlarms();
    if (isNotice(a)) { onLiveNotice(); return; }  // a notice never sounds
    // A new alarm sounds, and so does one whose situation came back (reopened).
    if (((!old && !announced && change === "opened") || change === "reopened") && ringing(a)) sound.beep();
  }

  // Vessels in alarm get a ring on the map (both of an encounter); the banner shows while
  // alarms are open. An alert whose episode has ended rings nothing: it waits, calm.
  function showAlarms() {
    const counts = ringVessels(store.alerts, store.alarmVessels);
    showBanner(banner, counts);
    layer.redraw();
    if (onAlerts) onAlerts();
  }

  // On the map: fly there, select the vessel and draw its track around the alert, the
  // evidence highlighted in the alert's colour.
  function show(a) {
    selectedId = a.id; fresh.delete(a.id); render();
    const start = Date.parse(a.start), end = a.end ? Date.parse(a.end) : Math.max(store.dataClock, start);
    const margin = Math.max(30 * 60e3, (end - start) * 0.25);
    const v = store.vessels.get(a.mmsi);
    const where = a.lat != null ? [a.lat, a.lon] : v ? [v.lat, v.lon] : null;
    if (where) panel.flyTo(where, Math.max(map.getZoom(), 10));
    if (!a.mmsi) return;
    const color = themeColor(priorityOf(a) === "alarm" ? "--alarm" : isNotice(a) ? "--notice" : "--warning");
    panel.select(a.mmsi, { fly: false, track: { start: new Date(start - margin).toISOString(),
      end: new Date(end + margin).toISOString(), highlight: [start, end, color], fit: true } });
  }

  function acknowledge(a) {
    if (pending.has(a.id) || a.status !== "open") return Promise.resolve();
    pending.add(a.id); fresh.delete(a.id); render();
    return api("/api/alerts/" + a.id + "/ack", { method: "POST", body: { note: null } })
      .then((updated) => { pending.delete(a.id); merge(updated); clearToast(); })
      .catch((e) => { pending.delete(a.id); render(); toast("Acknowledge failed: " + e.message); });
  }

  function anyRinging() {
    for (const a of store.alerts.values()) if (ringing(a)) return true;
    return false;
  }

  // ---------------------------------------------------------------- bulk
  function endedShown(shown) {  // partners' alerts are not ours to acknowledge or close
    return shown.filter((a) => a.end != null && a.status !== "closed" && !isNotice(a) && !partnerOrigin(a));
  }
  function showBulk(shown) {
    const ended = endedShown(shown), unacked = ended.filter((a) => a.status === "open");
    const ack = byId("bulk-ack"), close = byId("bulk-close");
    ack.hidden = !canAcknowledge || unacked.length < 2;
    ack.textContent = "Acknowledge ended (" + unacked.length + ")";
    close.hidden = !canAcknowledge || ended.length < 2;
    close.textContent = "Close ended (" + ended.length + ")…";
  }
  byId("bulk-ack").addEventListener("click", () => {
    const ids = endedShown(visibleAlerts().shown).filter((a) => a.status === "open").map((a) => a.id);
    if (!ids.length) return;
    api("/api/alerts/bulk", { method: "POST", body: { ids, action: "acknowledge", note: null } })
      .then((body) => { body.alerts.forEach((a) => merge(a)); clearToast(); })
      .catch((e) => toast("Acknowledge failed: " + e.message));
  });
  byId("bulk-close").addEventListener("click", () => {
    const ended = endedShown(visibleAlerts().shown);
    if (ended.length) dialog.askMany(ended);
  });

  // ---------------------------------------------------------------- timeline (History)
  function toggleTimeline(a, li) {
    const box = li.querySelector(".timeline");
    if (!box.hidden) { box.hidden = true; return; }
    box.hidden = false; box.innerHTML = '<p class="muted">Loading…</p>';
    fillTimeline(a, box);
  }
  /** The alert's history and notes, and (officers) a note form: notes for the next watch
   * that are not a closure ("master called, ETA anchorage 14:00Z"). */
  function fillTimeline(a, box) {
    return Promise.all([api("/api/alerts/" + a.id), api("/api/notes?alert_id=" + a.id)]).then(([d, n]) => {
      box.innerHTML = timelineHtml(d.history || [], n.notes || []) + (canAcknowledge && a.stored !== false
        ? '<form class="alert-note">' +
          '<input name="text" maxlength="2000" aria-label="Note on this alert" placeholder="Add a note for the watch…" required>' +
          '<button type="submit">Add note</button></form>' : "");
      const form = box.querySelector("form.alert-note");
      if (form) form.addEventListener("submit", (e) => {
        e.preventDefault();
        const text = form.elements.text.value.trim(); if (!text) return;
        form.querySelector("button").disabled = true;
        api("/api/notes", { method: "POST", body: { alert_id: a.id, mmsi: a.mmsi || undefined, text } })
          .then(() => fillTimeline(a, box))
          .catch((err) => { form.querySelector("button").disabled = false; toast("Note not saved: " + err.message); });
      });
    }).catch((e) => { box.textContent = "Timeline: " + e.message; });
  }

  // ---------------------------------------------------------------- events
  list.addEventListener("pointerenter", () => { pointerIn = true; lastMove = Date.now(); });
  list.addEventListener("pointermove", () => { lastMove = Date.now(); });
  list.addEventListener("pointerleave", () => { pointerIn = false; pointerDown = false; if (!held()) render(); });
  list.addEventListener("pointerdown", () => { pointerDown = true; lastMove = Date.now(); });
  document.addEventListener("pointerup", () => { if (pointerDown) { pointerDown = false; lastMove = Date.now(); } });
  list.addEventListener("click", (e) => {
    const li = e.target.closest(".alert"); if (!li) return;
    const a = store.alerts.get(Number(li.getAttribute("data-id"))); if (!a) return;
    const btn = e.target.closest("button");
    sound.unlock();
    if (btn && btn.classList.contains("vessel-link")) {
      e.stopPropagation(); panel.select(Number(btn.getAttribute("data-mmsi")), { fly: true }); return;
    }
    const act = btn && btn.getAttribute("data-act");
    if (act === "ack") { e.stopPropagation(); acknowledge(a); return; }
    if (act === "close") { e.stopPropagation(); dialog.ask(a); return; }
    if (act === "timeline") { e.stopPropagation(); toggleTimeline(a, li); return; }
    if (btn && !act) return;  // another module's button: its own handler acts
    show(a);
  });
  list.addEventListener("focusin", (e) => {
    const li = e.target.closest(".alert");
    if (li) { list.querySelectorAll(".alert[tabindex='0']").forEach((x) => { if (x !== li) x.tabIndex = -1; }); li.tabIndex = 0; }
  });
  document.querySelector("#desk .tabs").addEventListener("click", function (e) {
    const v = e.target.getAttribute("data-view"); if (!v) return;
    setView(v);
  });
  function setView(v) {
    view = v;
    document.querySelectorAll("#desk .tabs button").forEach((b) => {
      const on = b.getAttribute("data-view") === v;
      b.classList.toggle("active", on); b.setAttribute("aria-selected", String(on));
    });
    cards.forEach((c) => c.li.remove()); cards.clear();
    savePrefs("desk", { view, kinds: [...filter.kinds], severities: [...filter.severities] });
    return load();
  }
  banner.addEventListener("click", () => {  // to the alarm that needs action most
    const ringingNow = [...store.alerts.values()].filter(ringing).sort(compareDesk);
    if (ringingNow.length) { show(ringingNow[0]); focusCard(ringingNow[0].id); }
  });

  // Filters by kind and severity (remembered in this browser).
  const kindSel = byId("filter-kind");
  (Array.isArray(config.kinds) ? config.kinds : []).forEach((k) => {
    kindSel.appendChild(el("option", { value: k.kind }, esc(k.label)));
  });
  kindSel.value = filter.kinds.size === 1 ? [...filter.kinds][0] : "";
  kindSel.addEventListener("change", () => {
    filter.kinds = new Set(kindSel.value ? [kindSel.value] : []); saveFilters(); render();
  });
  const sevBox = byId("filter-severity");
  SEVERITIES.forEach((s) => {
    const b = el("button", { type: "button", "data-sev": s, "aria-pressed": String(filter.severities.has(s)),
      "class": "sev sev-" + s, title: "Show only " + s + " alerts (several may be chosen)" }, esc(s));
    sevBox.appendChild(b);
  });
  sevBox.addEventListener("click", (e) => {
    const s = e.target.getAttribute("data-sev"); if (!s) return;
    if (filter.severities.has(s)) filter.severities.delete(s); else filter.severities.add(s);
    e.target.setAttribute("aria-pressed", String(filter.severities.has(s)));
    saveFilters(); render();
  });
  function saveFilters() { savePrefs("desk", { view, kinds: [...filter.kinds], severities: [...filter.severities] }); }

  // "12 min ago" moves on: only the times are rewritten, every 20 s of the data clock. That
  // clock may jump (the vessels load after the alerts and the data runs hours ahead) or run
  // 60x (mda demo): checked each second, so the ages never wait for a 20 s wall-clock tick.
  setInterval(() => {
    if (view === "active" && Math.abs(eventNow() - renderedAt) >= RELATIVE_TIMES_EVERY_MS) render();
  }, 1000);

  // ---------------------------------------------------------------- keyboard
  function cardList() { return [...list.querySelectorAll(".alert")]; }
  function focusedCard() { const li = document.activeElement && document.activeElement.closest && document.activeElement.closest("#alerts .alert"); return li || null; }
  function focusCard(id) {
    const c = cards.get(id);
    if (c) { c.li.tabIndex = 0; c.li.focus(); c.li.scrollIntoView({ block: "nearest" }); fresh.delete(id); }
  }
  /** Move the focus to the next (+1) or previous (-1) card; the first when none has it. */
  function step(dir) {
    const all = cardList(); if (!all.length) return;
    const cur = focusedCard(), i = cur ? all.indexOf(cur) : -1;
    const next = all[Math.max(0, Math.min(all.length - 1, i < 0 ? 0 : i + dir))];
    focusCard(Number(next.getAttribute("data-id")));
  }
  /** Act on the focused card (else the first): "ack", "close", "show", "timeline". */
  function act(what) {
    const li = focusedCard() || cardList()[0]; if (!li) return;
    const a = store.alerts.get(Number(li.getAttribute("data-id"))); if (!a) return;
    if (!li.contains(document.activeElement)) focusCard(a.id);
    if ((what === "ack" || what === "close") && partnerOrigin(a)) return;  // read-only here
    if (what === "ack" && canAcknowledge) acknowledge(a);
    else if (what === "close" && canAcknowledge && a.status !== "closed") dialog.ask(a);
    else if (what === "show") show(a);
    else if (what === "timeline") toggleTimeline(a, li);
  }
  function nextAlarm() {
    const r = [...store.alerts.values()].filter(ringing).sort(compareDesk);
    if (r.length) focusCard(r[0].id);
  }

  setView(view).catch(() => {});
  return { load, render, merge, show, anyRinging, toast, focusCard, step, act, nextAlarm,
    addAction(hook) { actionHooks.push(hook); cards.forEach((c) => { c.sig.actions = null; }); render(); },
    view: () => view };
}

// An error stays in view (red) until dismissed or the next success; never a grey line
// that fades.
function toast(msg) {
  console.warn(msg);
  const t = byId("desk-toast");
  t.hidden = false;
  t.querySelector(".text").textContent = msg;
}
function clearToast() { byId("desk-toast").hidden = true; }
byId("desk-toast").querySelector("button").addEventListener("click", clearToast);

// Fill rings (mmsi -> "alarm-open" | "alarm" | "warning", the strongest per vessel, both
// vessels of an encounter) from the alerts still going on; returns the alarms counted
// {open, acked, critical}. Notices never ring.
function ringVessels(alerts, rings) {
  rings.clear();
  let open = 0, acked = 0, critical = 0;
  alerts.forEach((a) => {
    // A partner's alert rings nothing of ours: it has its own marker (partner-map.js).
    if (a.status === "closed" || a.end != null || !a.mmsi || isNotice(a) || isPartnerAlert(a)) return;
    const prio = priorityOf(a);
    const st = prio === "alarm" ? (a.status === "open" ? "alarm-open" : "alarm") : "warning";
    [a.mmsi, a.other_mmsi].forEach((m) => {
      if (!m) return;
      const cur = rings.get(m);
      if (!cur || st === "alarm-open" || (st === "alarm" && cur === "warning")) rings.set(m, st);
    });
    if (prio === "alarm") { if (a.status === "open") { open++; if (a.severity === "critical") critical++; } else acked++; }
  });
  return { open, acked, critical };
}

// Flashing while any alarm is unacknowledged, steady once all are acknowledged.
function showBanner(banner, { open, acked, critical }) {
  if (open) {
    banner.hidden = false; banner.className = "flash";
    banner.toggleAttribute("data-critical", critical > 0);
    banner.textContent = "⚠ " + open + " ALARM" + (open > 1 ? "S" : "") + " UNACKNOWLEDGED";
    banner.title = "Show the alarm that needs action most" + (critical ? " (critical first)" : "");
  } else if (acked) {
    banner.hidden = false; banner.className = "steady"; banner.removeAttribute("data-critical");
    banner.textContent = acked + " alarm" + (acked > 1 ? "s" : "") + " acknowledged";
  } else banner.hidden = true;
}

// Where the alert stands: ended when (a beacon: silent since), acknowledged or closed by
// whom (with the outcome and note). A notice is a fact about the data, mostly of one
// instant: no "ended" unless it lasted, and never "not acknowledged" (nobody needs to).
function stateLine(a, now, wall) {
  const parts = [], notice = isNotice(a);
  if (a.stored === false) parts.push('<span class="unstored">not yet stored</span>');
  if (a.end != null && !(notice && a.end === a.start)) {
    const label = isDistress(a) && a.status !== "closed" ? "SILENT since " : "ended ";
    parts.push('<span class="ended-at" title="' + esc(utc(a.end) + " · " + ago(now - Date.parse(a.end)) + " · " +
      localTitle(a.end)) + '">' + label + hhmm(a.end) + "</span>");
  }
  if (a.status === "acknowledged") {
    parts.push("Acknowledged by " + esc(a.acknowledged_by) + " · " + ago(wall - Date.parse(a.acknowledged_at)));
  } else if (a.status === "closed") {
    parts.push("Closed by " + esc(a.closed_by) + (a.outcome ? ' · <span class="outcome ' + esc(a.outcome) + '">' +
      esc(OUTCOME_TEXT[a.outcome] || a.outcome) + "</span>" : "") + (a.note ? ": “" + esc(a.note) + "”" : ""));
  } else if (a.end != null && !notice) parts.push("not acknowledged");
  return parts.join(" · ");
}

// Officers act on what is not closed (a notice needs no acknowledgement); everyone can show
// it and read its timeline. Buttons carry the alert in their accessible names.
/** A partner's alert received on its feed: {partner, country, source, event_id, ...}, else null. */
export function partnerOrigin(a) { return a && a.details && a.details.origin ? a.details.origin : null; }

/** "LK" -> its flag (regional indicator letters). */
export function countryFlag(cc) {
  return /^[A-Z]{2}$/.test(cc || "") ? String.fromCodePoint(...[...cc].map((c) => 0x1f1a5 + c.charCodeAt(0))) : "";
}

function actions(a, canAcknowledge, busy, view) {
  if (a.stored === false) canAcknowledge = false;  // not in the database yet: nothing to act on
  if (partnerOrigin(a)) canAcknowledge = false;  // only the partner acknowledges or closes its alerts
  const what = kindLabel(a.kind) + " " + (alertVesselName(a) || a.mmsi || "");
  const b = (act, text, cls, label) => '<button type="button" data-act="' + act + '"' + (cls ? ' class="' + cls + '"' : "") +
    ' aria-label="' + esc(label + " " + what) + '"' + (busy && act === "ack" ? " disabled" : "") + ">" + text + "</button>";
  const out = [];
  if (canAcknowledge && a.status === "open" && !isNotice(a)) out.push(b("ack", busy ? "Acknowledging…" : "Acknowledge", "ack", "Acknowledge"));
  if (canAcknowledge && a.status !== "closed") out.push(b("close", "Close…", "", "Close"));
  out.push(b("show", "Show", "", "Show on the map"));
  if (a.stored !== false) out.push(b("timeline", "Timeline", "", "Timeline and notes of"));
  return out.join("");
}

const ACTION_TEXT = { opened: "opened", updated: "updated", ended: "ended", reopened: "came back (reopened)",
  acknowledged: "acknowledged", closed: "closed" };

function timelineHtml(history, notes) {
  const rows = history.map((h) => ({ t: h.time, html: "<b>" + esc(ACTION_TEXT[h.action] || h.action) + "</b> by " +
    esc(h.actor) + (h.outcome ? " · " + esc(OUTCOME_TEXT[h.outcome] || h.outcome) : "") +
    (h.note ? ": “" + esc(h.note) + "”" : "") }))
    .concat(notes.map((n) => ({ t: n.created_at, html: "<b>note</b> by " + esc(n.author) + ": “" + esc(n.text) + "”" })));
  rows.sort((x, y) => Date.parse(x.t) - Date.parse(y.t));
  if (!rows.length) return '<p class="muted">No history.</p>';
  return "<ol>" + rows.map((r) => '<li><span class="mono">' + esc(utc(r.t)) + "</span> " + r.html + "</li>").join("") + "</ol>";
}
