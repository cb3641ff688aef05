/* Counters per sea area (ux.md): vessels and open alerts by kind in each area of the
 * Indian Ocean, recounted every 2 s while the panel is open. Areas are boxes tried in
 * order (the first that holds a position counts it): approximate, for a glance. */

import { inHistory, isNotice, kindLabel } from "./alerts.js";
import { byId } from "./dom.js";
import { esc } from "./format.js";
import { store } from "./store.js";

// [name, minLon, minLat, maxLon, maxLat], the narrow seas first.
export const SEA_AREAS = [
  ["Persian Gulf", 47.5, 23.5, 56.4, 30.5],
  ["Gulf of Oman", 56.4, 22, 61.5, 26.8],
  ["Red Sea", 32, 12.6, 43.6, 30],
  ["Gulf of Aden", 43.2, 10.4, 51.5, 15.5],
  ["Strait of Malacca", 95, 0.5, 104.5, 8],
  ["Andaman Sea", 92.5, 8, 99, 16.5],
  ["Laccadive Sea", 72, 5, 79.5, 14],
  ["Bay of Bengal", 79.5, 5, 95, 23.5],
  ["Arabian Sea", 51.5, 5, 78, 26],
  ["Mozambique Channel", 32, -27, 49.5, -10],
  ["Somali Basin", 39, -10, 56, 10.4],
  ["Central Indian Ocean", 56, -10, 100, 5],
  ["Southern Indian Ocean", 20, -60, 120, -10]
];

export function areaOf(lat, lon) {
  for (const [name, x0, y0, x1, y1] of SEA_AREAS) if (lon >= x0 && lon <= x1 && lat >= y0 && lat <= y1) return name;
  return "Elsewhere";
}

/** The counters: {vessels, alerts: {kind: n}, open} per area. */
export function countAreas() {
  const out = new Map();
  const get = (n) => { let a = out.get(n); if (!a) { a = { vessels: 0, alerts: {}, open: 0 }; out.set(n, a); } return a; };
  store.vessels.forEach((v) => { if (v.lat != null) get(areaOf(v.lat, v.lon)).vessels++; });
  store.alerts.forEach((a) => {
    if (inHistory(a) || isNotice(a)) return;
    const v = store.vessels.get(a.mmsi);
    const lat = a.lat != null ? a.lat : v && v.lat, lon = a.lon != null ? a.lon : v && v.lon;
    if (lat == null) return;
    const c = get(areaOf(lat, lon));
    c.alerts[a.kind] = (c.alerts[a.kind] || 0) + 1; c.open++;
  });
  return out;
}

export function mountAreas({ onPick }) {
  const panel = byId("areas-panel"), button = byId("areas-toggle");
  let timer = null;
  function render() {
    const counts = countAreas();
    const rows = [...SEA_AREAS.map((a) => a[0]), "Elsewhere"].filter((n) => counts.has(n)).map((n) => {
      const c = counts.get(n);
      const kinds = Object.keys(c.alerts).sort().map((k) => esc(kindLabel(k)) + " " + c.alerts[k]).join(", ");
      return '<tr data-area="' + esc(n) + '"><th>' + esc(n) + '</th><td class="num">' + c.vessels.toLocaleString("en") +
        '</td><td class="num' + (c.open ? " hot" : "") + '">' + c.open + '</td><td class="kinds">' + (kinds || "—") + "</td></tr>";
    });
    byId("areas-body").innerHTML = rows.join("");
  }
  button.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-pressed", String(!panel.hidden));
    if (!panel.hidden) { render(); timer = setInterval(render, 2000); } else { clearInterval(timer); timer = null; }
  });
  panel.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-area]"); if (!tr) return;
    const a = SEA_AREAS.find((x) => x[0] === tr.getAttribute("data-area"));
    if (a) onPick([[a[2], a[1]], [a[4], a[3]]]);
  });
  return { render };
}
