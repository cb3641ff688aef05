/* Data quality: the notices (severity info, never ringing) shown in the desk's list on
 * request, and above it their count by source and kind over the last 24 h
 * (GET /api/data-quality). */

import { api } from "./api.js";
import { kindLabel } from "./alerts.js";
import { byId, el } from "./dom.js";
import { ago, esc, utc } from "./format.js";
import { eventNow, store } from "./store.js";

const RECOUNT_AFTER_MS = 2000;

/** deps: onToggle() to re-render the desk, show(alert) to put a notice on the map, toast(text).
 *  Returns {refresh(), refreshSoon()}. */
export function mountDataQuality({ onToggle, show, toast }) {
  const toggle = byId("dq-toggle"), panel = byId("dq-panel");
  let timer = null;

  function load() {
    return api("/api/data-quality?since=-24h&examples=1")
      .then((dq) => showCounts(panel, dq))
      .catch((e) => { byId("dq-total").textContent = "Data quality: " + e.message; });
  }
  /** Recount now, when the panel is open (after the desk reloads). */
  function refresh() { if (store.showNotices) load(); }
  /** A live notice: recount, at most every 2 s. */
  function refreshSoon() {
    if (!store.showNotices || timer) return;
    timer = setTimeout(() => { timer = null; load(); }, RECOUNT_AFTER_MS);
  }

  toggle.addEventListener("click", () => {
    store.showNotices = !store.showNotices;
    toggle.setAttribute("aria-pressed", String(store.showNotices));
    panel.hidden = !store.showNotices;
    if (store.showNotices) load();
    onToggle();
  });
  // A row shows its kind's latest notice.
  panel.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-id]"); if (!tr) return;
    const id = Number(tr.getAttribute("data-id"));
    (store.alerts.get(id) ? Promise.resolve(store.alerts.get(id)) : api("/api/alerts/" + id)).then(show)
      .catch((err) => toast("Notice: " + err.message));
  });
  return { refresh, refreshSoon };
}

function showCounts(panel, dq) {
  const body = panel.querySelector("tbody");
  body.innerHTML = "";
  dq.sources.forEach((src) => src.kinds.forEach((k, i) => body.appendChild(countRow(src, k, i))));
  const n = dq.sources.length, total = byId("dq-total");
  total.textContent = dq.total ?
    dq.total + " notice" + (dq.total > 1 ? "s" : "") + " from " + n + " source" + (n > 1 ? "s" : "") :
    "No data-quality notices.";
  total.title = "Notices that started since " + utc(dq.since) + " (event time)";
}

// One kind of one source; the source's name spans its kinds' rows.
function countRow(src, k, i) {
  const ex = k.examples[0];
  return el("tr", ex ? { "data-id": ex.id, title: "Show the latest: " + (ex.text || "") } : null,
    (i === 0 ? '<th rowspan="' + src.kinds.length + '">' + esc(src.source) + "</th>" : "") +
    "<td>" + esc(kindLabel(k.kind)) + '</td><td class="num">' + k.count + "</td>" +
    '<td class="num" title="' + esc(utc(k.latest)) + '">' + ago(eventNow() - Date.parse(k.latest)) + "</td>");
}
