/* Partners on the map (docs/partners.md):
 *
 * - Partners' alerts (received on a partner's feed, read-only here) each get a marker of
 *   their own at the alert's position: a box in the partner colour with the partner's flag,
 *   its name and the bridge priority, outlined solid for an alarm and dashed for a warning
 *   or caution. Never red, never flashing: red and flashing are for our own unacknowledged
 *   alarms (ux.md), and only the partner acknowledges its alerts. A click shows its card.
 * - Partners' extracts imported here (mda extract import, or the form in this panel for
 *   officers: POST /api/extracts/import) are listed in the "Partner extracts" panel:
 *   partner and flag, title, time span. Selecting one draws its tracks and the alert it
 *   carries in the partner style (dash-dot lines in the partner colour, labelled with the
 *   partner's name and flag) from GET /api/extracts/imported/{id} (GeoJSON). */

import { apiForm, api } from "./api.js";
import { inHistory, isPartnerAlert, kindLabel, priorityLabel, priorityOf } from "./alerts.js";
import { countryFlag } from "./desk.js";
import { byId, el, themeColor } from "./dom.js";
import { esc, utc } from "./format.js";
import { L } from "./leaflet.js";
import { store } from "./store.js";

const TRACK_DASH = "10 4 2 4";  // dash-dot: no other line on the chart is drawn so

/** deps: map, canImport (officers), onShowAlert(id). Returns {controls (the map control's
 *  element, for more partner buttons), refreshAlerts, open, show,
 *  shown(), imports(), trackStyles(), alertMarkers()}. */
export function mountPartnerMap({ map, canImport, onShowAlert }) {
  // ------------------------------------------------------------ partners' alerts
  const alertLayer = L.layerGroup().addTo(map);
  const markers = new Map();  // alert id -> {marker, sig}

  function refreshAlerts() {
    const keep = new Set();
    store.alerts.forEach((a) => {
      if (!isPartnerAlert(a) || inHistory(a) || a.status === "closed" || a.lat == null || a.lon == null) return;
      keep.add(a.id);
      const o = a.details.origin;
      const sig = [a.lat, a.lon, a.status, a.severity, a.end, o.partner, o.country, a.kind].join("|");
      const had = markers.get(a.id);
      if (had && had.sig === sig) return;
      if (had) alertLayer.removeLayer(had.marker);
      const prio = priorityOf(a);
      const title = "Partner " + o.partner + "'s alert (read-only here): " + priorityLabel(a) + " " +
        kindLabel(a.kind) + (a.mmsi ? ", MMSI " + a.mmsi : "") + (a.end != null ? ", ended" : "");
      const html = '<span class="pa-box" data-alert-id="' + a.id + '">' + partnerBadge(o.partner, o.country) +
        '<span class="pa-prio">' + esc(priorityLabel(a)) + "</span></span>";
      const marker = L.marker([a.lat, a.lon], {
        icon: L.divIcon({ className: "partner-alert-marker prio-" + prio + (a.end != null ? " ended" : ""),
          html, iconSize: null }),
        title, riseOnHover: true, keyboard: false
      });
      marker.on("click", () => onShowAlert(a.id));
      marker.addTo(alertLayer);
      markers.set(a.id, { marker, sig });
    });
    markers.forEach((m, id) => { if (!keep.has(id)) { alertLayer.removeLayer(m.marker); markers.delete(id); } });
  }

  // ------------------------------------------------------------ imported extracts
  // On the map, under the layer switcher (the top bar is full at 1024 px): this panel's
  // button, and the admin's "Partners" (partners-admin.js adds it to `controls`).
  const Controls = L.Control.extend({ options: { position: "topright" }, onAdd() {
    const box = L.DomUtil.create("div", "partner-controls");
    L.DomEvent.disableClickPropagation(box);
    return box;
  } });
  const controls = new Controls().addTo(map).getContainer();
  const toggle = el("button", { id: "pext-toggle", class: "tool", type: "button", "aria-pressed": "false",
    "aria-controls": "pext-panel", title: "Partners' extracts imported here: their tracks on the map" },
  '<span aria-hidden="true">⚑</span> Partner extracts');
  controls.appendChild(toggle);
  const panel = el("section", { id: "pext-panel", class: "panel", "aria-label": "Partner extracts", hidden: "" });
  panel.innerHTML = '<div class="row"><h3>Partner extracts</h3><button type="button" class="close" id="pext-close" aria-label="Close">×</button></div>' +
    (canImport ? '<form id="pext-form"><label>Signed extract (ZIP) <input type="file" id="pext-file" accept=".zip,application/zip" required></label>' +
      '<label>Partner <select id="pext-partner"><option value="">by the key it is signed with</option></select></label>' +
      '<button type="submit" id="pext-import">Import</button></form>' : "") +
    '<p id="pext-status" role="status" hidden></p><ul id="pext-list" aria-label="Imported extracts"></ul>';
  byId("map-wrap").appendChild(panel);
  const list = panel.querySelector("#pext-list"), status = panel.querySelector("#pext-status");
  let items = [], selected = null, drawn = null, drawnLines = null, drawnInfo = null;

  function say(text, bad) {
    status.hidden = !text; status.textContent = text || ""; status.classList.toggle("bad", !!bad);
  }

  function load() {
    return api("/api/extracts/imported").then((body) => { items = body.imports; render(); })
      .catch((e) => say("Partner extracts: " + e.message, true));
  }

  function render() {
    if (!items.length) { list.innerHTML = '<li class="muted">No partner extract imported yet.</li>'; return; }
    list.innerHTML = items.map((x) =>
      '<li><button type="button" class="pext-item' + (x.id === selected ? " selected" : "") + '" data-id="' + x.id + '"' +
      ' aria-pressed="' + (x.id === selected) + '" title="' + esc("SHA-256 " + x.sha256 + " · signed with " + x.signing_key +
        " · imported by " + x.imported_by + " " + utc(x.imported_at) + (x.caveat ? " · " + x.caveat : "")) + '">' +
      partnerBadge(x.partner, x.country) + '<span class="pext-title">' + esc(x.title) + "</span>" +
      '<span class="pext-span mono">' + esc(utc(x.start)) + " → " + esc(utc(x.end)) + "</span>" +
      '<span class="muted">' + x.positions.toLocaleString("en") + " fixes · " + x.vessels + " vessel" + (x.vessels === 1 ? "" : "s") +
      (x.alerts ? " · " + x.alerts + " alert" + (x.alerts === 1 ? "" : "s") : "") + "</span></button></li>").join("");
  }

  list.addEventListener("click", (e) => {
    const b = e.target.closest(".pext-item"); if (!b) return;
    const id = Number(b.getAttribute("data-id"));
    if (id === selected) { clear(); render(); } else show(id);
  });

  function clear() {
    if (drawn) map.removeLayer(drawn);
    drawn = null; drawnLines = null; drawnInfo = null; selected = null;
  }

  /** Draw one imported extract: its tracks and alerts in the partner style. */
  function show(id) {
    return api("/api/extracts/imported/" + id).then((geo) => {
      clear();
      selected = id; render();
      const p = geo.properties, color = themeColor("--partner") || "#7fd4ff";
      const badge = partnerBadge(p.partner, p.country);
      let tracks = 0, alerts = 0;
      const labels = [];
      const lines = L.geoJSON(geo, {
        style: () => ({ color, weight: 3, opacity: 0.95, dashArray: TRACK_DASH, className: "partner-track" }),
        pointToLayer(f, latlng) {
          if (f.properties.role === "alert") {
            const a = f.properties;
            return L.marker(latlng, { icon: L.divIcon({ className: "partner-alert-marker extract prio-" +
              priorityOf(a), html: '<span class="pa-box">' + badge + '<span class="pa-prio">' + esc(a.label || kindLabel(a.kind)) +
              "</span></span>", iconSize: null }), title: "Partner " + p.partner + "'s alert in its extract: " +
              (a.label || kindLabel(a.kind)) + (a.text ? " (" + a.text + ")" : "") });
          }
          return L.circleMarker(latlng, { radius: 4, color, weight: 2, fillOpacity: 0.6, className: "partner-track" });
        },
        onEachFeature(f, layer) {
          const q = f.properties;
          if (q.role === "alert") { alerts++; return; }
          tracks++;
          const who = (q.name ? q.name + " · " : "") + "MMSI " + q.mmsi;
          // labelled at its last fix, clear of the alert's marker: the partner, the vessel
          const c = f.geometry.type === "Point" ? f.geometry.coordinates : f.geometry.coordinates[f.geometry.coordinates.length - 1];
          labels.push(L.tooltip({ permanent: true, direction: "right", offset: [6, 0], className: "partner-track-label" })
            .setLatLng([c[1], c[0]]).setContent(badge + " " + esc(who)));
          layer.bindPopup("<b>" + esc(who) + "</b><br>from partner " + badge + "<br>" + q.fixes + " fixes, " +
            esc(utc(q.datetimes[0])) + " → " + esc(utc(q.datetimes[q.datetimes.length - 1])) +
            "<br><span class=\"muted\">" + esc(p.title) + "</span>");
        }
      });
      drawn = L.layerGroup([lines, ...labels]).addTo(map);
      drawnLines = lines;
      drawnInfo = { id, partner: p.partner, tracks, alerts };
      const b = lines.getBounds();
      // clear of the legend (bottom left), of this panel (top right) and room for the labels
      const right = Math.min(760, map.getSize().x * 0.65);
      if (b.isValid()) map.fitBounds(b, { paddingTopLeft: [240, 40], paddingBottomRight: [right, 40], maxZoom: 12 });
    }).catch((e) => say("Extract " + id + ": " + e.message, true));
  }

  function open() {
    panel.hidden = false; toggle.setAttribute("aria-pressed", "true");
    if (canImport) loadPartners();
    return load();
  }
  toggle.addEventListener("click", () => {
    if (panel.hidden) open(); else { panel.hidden = true; toggle.setAttribute("aria-pressed", "false"); }
  });
  panel.querySelector("#pext-close").addEventListener("click", () => { panel.hidden = true; toggle.setAttribute("aria-pressed", "false"); });

  let partnersLoaded = false;
  function loadPartners() {
    if (partnersLoaded) return;
    api("/api/partners").then((body) => {
      partnersLoaded = true;
      const sel = panel.querySelector("#pext-partner");
      body.partners.filter((x) => !x.disabled).forEach((x) => {
        sel.appendChild(el("option", { value: x.name }, esc(x.name + " (" + x.country + ")")));
      });
    }).catch(() => {});
  }

  if (canImport) {
    const form = panel.querySelector("#pext-form"), go = panel.querySelector("#pext-import");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const file = panel.querySelector("#pext-file").files[0];
      if (!file) return;
      const data = new FormData();
      data.append("file", file, file.name);
      const partner = panel.querySelector("#pext-partner").value;
      if (partner) data.append("partner", partner);
      go.disabled = true; go.textContent = "Verifying…"; say("");
      apiForm("/api/extracts/import", data)
        .then((r) => { say(r.message, false); form.reset(); return load().then(() => show(r.id)); })
        .catch((err) => say("Refused: " + err.message, true))
        .finally(() => { go.disabled = false; go.textContent = "Import"; });
    });
  }

  /** The drawn tracks' line styles (the map draws on a canvas: no SVG to look at). */
  function trackStyles() {
    if (!drawnLines) return [];
    return drawnLines.getLayers().filter((l) => l instanceof L.Polyline)
      .map((l) => ({ color: l.options.color, dashArray: l.options.dashArray }));
  }

  return { controls, refreshAlerts, open, show, shown: () => drawnInfo, imports: () => items.slice(), trackStyles,
    alertMarkers: () => Array.from(markers.keys()) };
}

/** The partner's flag and name, as the desk, the markers and the list show it. */
function partnerBadge(partner, country) {
  const flag = countryFlag(country);
  return '<span class="pa-flag" title="' + esc(country || "") + '">' + (flag || esc(country || "")) + "</span>" +
    '<span class="pa-name">' + esc(partner) + "</span>";
}
