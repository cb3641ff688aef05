/* Find a vessel by MMSI, IMO, name or call sign (GET /api/search) as the officer types. */

import { api } from "./api.js";
import { byId, el } from "./dom.js";
import { ago, esc } from "./format.js";
import { CLASS_BY_ID, classOf } from "./ships.js";
import { eventNow } from "./store.js";

const TYPING_PAUSE_MS = 180;

/** The search box; onPick(mmsi) for the vessel chosen (Enter takes the first). */
export function mountSearch({ onPick }) {
  const input = byId("search"), results = byId("search-results");
  let timer = null, seq = 0;  // only the latest query's answer is shown

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (!q) { results.hidden = true; return; }
    timer = setTimeout(() => {
      const mine = ++seq;
      api("/api/search?q=" + encodeURIComponent(q)).then((rows) => {
        if (mine === seq) showResults(results, q, rows);
      }).catch(() => {});
    }, TYPING_PAUSE_MS);
  });
  input.addEventListener("keydown", (e) => {
    const items = [...results.querySelectorAll("li[data-mmsi]")];
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && items.length && !results.hidden) {
      e.preventDefault();
      const i = items.findIndex((li) => li.classList.contains("active"));
      const next = items[Math.max(0, Math.min(items.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))];
      items.forEach((li) => { li.classList.toggle("active", li === next); li.setAttribute("aria-selected", String(li === next)); });
      input.setAttribute("aria-activedescendant", next.id);
      next.scrollIntoView({ block: "nearest" });
    }
    if (e.key === "Enter") { const li = results.querySelector("li.active[data-mmsi]"); if (li) pick(li); }
    if (e.key === "Escape") { results.hidden = true; e.stopPropagation(); }
  });
  results.addEventListener("click", (e) => { const li = e.target.closest("li[data-mmsi]"); if (li) pick(li); });
  document.addEventListener("click", (e) => { if (!e.target.closest(".search")) results.hidden = true; });

  function pick(li) {
    results.hidden = true;
    onPick(Number(li.getAttribute("data-mmsi")));
  }
}

function showResults(results, q, rows) {
  results.innerHTML = "";
  if (!rows.length) results.innerHTML = '<li class="empty">No vessel matches “' + esc(q) + "”</li>";
  rows.forEach((r, i) => {
    const li = resultItem(r);
    if (i === 0) li.classList.add("active");
    results.appendChild(li);
  });
  results.hidden = false;
}

// A match: its class colour, name, MMSI, call sign and how long ago it was last heard.
function resultItem(r) {
  const cls = CLASS_BY_ID[classOf({ mmsi: r.mmsi, type: r.ship_type })];
  return el("li", { "data-mmsi": r.mmsi, role: "option", id: "sr-" + r.mmsi },
    '<span class="swatch" style="background:' + cls.color + '"></span><b>' + esc(r.name || "—") + "</b> " +
    '<span class="mono">' + r.mmsi + "</span>" + (r.callsign ? " · " + esc(r.callsign) : "") +
    '<span class="sub">' + (r.last_seen ? ago(eventNow() - Date.parse(r.last_seen)) : "") + "</span>");
}
