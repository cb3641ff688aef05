/* Measuring (ux.md): distance (nm) and bearing (degrees true) between two points or
 * vessels, range rings around a point or a vessel, and the closest point of approach
 * (CPA) and its time (TCPA) between two moving vessels. A tool picks its points with
 * clicks on the map (a click within 10 px of a vessel takes the vessel, which the result
 * then follows); Esc ends it (and only it: an open vessel panel stays).
 *
 * The geometry is pure (exported for tests): a sphere on which a minute of arc is one
 * nautical mile; CPA/TCPA on the plane tangent at the first vessel, both vessels holding
 * course and speed. */

import { L } from "./leaflet.js";
import { byId, themeColor } from "./dom.js";
import { esc, hhmm } from "./format.js";
import { store } from "./store.js";

const R_NM = 60 * 180 / Math.PI;  // earth radius in nautical miles: 1' of arc = 1 nm
const RAD = Math.PI / 180;

/** Great-circle distance in nm. */
export function distanceNm(lat1, lon1, lat2, lon2) {
  const p1 = lat1 * RAD, p2 = lat2 * RAD, dp = p2 - p1, dl = (lon2 - lon1) * RAD;
  const h = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return 2 * R_NM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Initial bearing from 1 to 2, degrees true [0, 360). */
export function bearingDeg(lat1, lon1, lat2, lon2) {
  const p1 = lat1 * RAD, p2 = lat2 * RAD, dl = (lon2 - lon1) * RAD;
  const y = Math.sin(dl) * Math.cos(p2), x = Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl);
  return (Math.atan2(y, x) / RAD + 360) % 360;
}

/** The point reached from (lat, lon) along a bearing after nm nautical miles: [lat, lon]. */
export function destinationPoint(lat, lon, bearing, nm) {
  const d = nm / R_NM, b = bearing * RAD, p1 = lat * RAD, l1 = lon * RAD;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return [p2 / RAD, ((l2 / RAD + 540) % 360) - 180];
}

/** CPA and TCPA of two vessels {lat, lon, sog (kn), cog (deg)}: {cpaNm, tcpaMin, rangeNm,
 *  a: [lat, lon], b: [lat, lon]} (the positions at the CPA). tcpaMin < 0: the CPA is past,
 *  they are opening, and cpaNm is the present range; null when they keep their distance
 *  (same velocity). Positions on the tangent plane at a, in nm east and north. */
export function cpaTcpa(a, b) {
  const k = Math.cos(a.lat * RAD);
  const rx = (b.lon - a.lon) * 60 * k, ry = (b.lat - a.lat) * 60;
  const va = [a.sog * Math.sin(a.cog * RAD), a.sog * Math.cos(a.cog * RAD)];
  const vb = [b.sog * Math.sin(b.cog * RAD), b.sog * Math.cos(b.cog * RAD)];
  const vx = vb[0] - va[0], vy = vb[1] - va[1], v2 = vx * vx + vy * vy;
  const range = Math.hypot(rx, ry);
  if (v2 < 1e-9) return { cpaNm: range, tcpaMin: null, rangeNm: range, a: [a.lat, a.lon], b: [b.lat, b.lon] };
  const t = -(rx * vx + ry * vy) / v2;  // hours
  const tt = Math.max(t, 0);
  const cpa = Math.hypot(rx + vx * tt, ry + vy * tt);
  const at = (v, s) => [v.lat + s.y * tt / 60, v.lon + s.x * tt / (60 * k)];
  return { cpaNm: cpa, tcpaMin: t * 60, rangeNm: range, a: at(a, { x: va[0], y: va[1] }), b: at(b, { x: vb[0], y: vb[1] }) };
}

export function nmText(nm) { return nm < 10 ? nm.toFixed(2) + " nm" : nm.toFixed(1) + " nm"; }
export function bearingText(deg) { return String(Math.round(deg) % 360).padStart(3, "0") + "°T"; }

const RING_STEPS_NM = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100];

/** The tools: a Leaflet control with Measure, Rings and CPA, and {start(tool, mmsi),
 *  consumesClick(), stop(), result()}. layer: the vessel layer (to pick vessels). */
export function mountMeasure(map, vesselLayer) {
  const group = L.layerGroup().addTo(map);
  const out = byId("measure-out");
  let tool = null, picks = [], cursor = null, timer = null;

  const Control = L.Control.extend({
    options: { position: "topleft" },
    onAdd() {
      const box = L.DomUtil.create("div", "leaflet-bar mda-tools");
      box.innerHTML = '<a href="#" role="button" data-tool="measure" title="Measure distance and bearing (M)" aria-label="Measure distance and bearing">📏</a>' +
        '<a href="#" role="button" data-tool="rings" title="Range rings around a point or vessel (R)" aria-label="Range rings">◎</a>' +
        '<a href="#" role="button" data-tool="cpa" title="CPA / TCPA between two vessels" aria-label="CPA and TCPA">⨯</a>';
      L.DomEvent.disableClickPropagation(box);
      box.addEventListener("click", (e) => {
        e.preventDefault();
        const t = e.target.closest("[data-tool]"); if (!t) return;
        const name = t.getAttribute("data-tool");
        if (tool === name) stop(); else start(name);
      });
      return box;
    }
  });
  new Control().addTo(map);

  function pick(latlng) {
    const v = vesselLayer.hit(map.latLngToContainerPoint(latlng), 10);
    return v ? { mmsi: v.mmsi } : { lat: latlng.lat, lng: latlng.lng };
  }
  function where(p) {
    if (p.mmsi != null) { const v = store.vessels.get(p.mmsi); return v ? { lat: v.lat, lon: v.lon, v } : null; }
    return { lat: p.lat, lon: p.lng };
  }
  function label(p) {
    if (p.mmsi == null) return "point";
    const v = store.vessels.get(p.mmsi);
    return (v && v.name) || "MMSI " + p.mmsi;
  }

  function start(name, mmsi) {
    stop();
    tool = name; picks = mmsi != null ? [{ mmsi }] : [];
    document.querySelectorAll(".mda-tools a").forEach((a) => a.classList.toggle("active", a.getAttribute("data-tool") === name));
    map.getContainer().classList.add("measuring");
    out.hidden = false;
    prompt();
    timer = setInterval(draw, 1000);  // vessels move on
    draw();
  }
  function stop() {
    tool = null; picks = []; cursor = null; group.clearLayers();
    if (timer) { clearInterval(timer); timer = null; }
    document.querySelectorAll(".mda-tools a").forEach((a) => a.classList.remove("active"));
    map.getContainer().classList.remove("measuring");
    out.hidden = true; out.innerHTML = "";
  }
  function prompt() {
    const need = tool === "rings" ? 1 : 2;
    if (picks.length >= need) return;
    const what = tool === "cpa" ? "vessel" : "point or vessel";
    out.innerHTML = '<b>' + (tool === "measure" ? "Measure" : tool === "rings" ? "Range rings" : "CPA / TCPA") + "</b>: click " +
      (picks.length ? "the second " : "a ") + what + " · Esc ends";
  }

  map.on("click", (e) => {
    if (!tool) return;
    const p = pick(e.latlng);
    if (tool === "cpa" && p.mmsi == null) { out.innerHTML = "<b>CPA / TCPA</b>: click a vessel (moving, with course and speed)"; return; }
    const need = tool === "rings" ? 1 : 2;
    if (picks.length >= need) picks = [];
    picks.push(p);
    prompt(); draw();
  });
  map.on("mousemove", (e) => { if (tool && picks.length === 1 && tool !== "rings") { cursor = e.latlng; draw(); } });
  // Esc ends the tool and nothing else (the vessel panel stays): the innermost thing first,
  // so this runs in the capture phase, before the shortcuts, and marks the key as used.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !tool || document.querySelector("dialog[open]")) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;  // leaving the field comes first
    stop(); e.preventDefault();
  }, { capture: true });

  function draw() {
    if (!tool) return;
    group.clearLayers();
    const color = themeColor("--measure");
    const pts = picks.map(where).filter(Boolean);
    if (tool === "rings" && pts.length) return drawRings(pts[0], color);
    if (!pts.length) return;
    const b = pts[1] || (cursor ? { lat: cursor.lat, lon: cursor.lng } : null);
    if (tool === "measure" && b) {
      const d = distanceNm(pts[0].lat, pts[0].lon, b.lat, b.lon), brg = bearingDeg(pts[0].lat, pts[0].lon, b.lat, b.lon);
      L.polyline([[pts[0].lat, pts[0].lon], [b.lat, b.lon]], { color, weight: 2, dashArray: "6 4", interactive: false }).addTo(group);
      const text = nmText(d) + " · " + bearingText(brg);
      L.marker([b.lat, b.lon], { interactive: false, icon: L.divIcon({ className: "measure-label", html: esc(text), iconSize: null }) }).addTo(group);
      if (pts[1]) {
        out.innerHTML = '<b>Measure</b> ' + esc(label(picks[0])) + " → " + esc(label(picks[1])) +
          ': <span id="measure-result" class="num">' + esc(text) + "</span> · Esc ends";
      }
    }
    if (tool === "cpa" && pts.length === 2) drawCpa(pts[0].v, pts[1].v, color);
  }

  function drawRings(c, color) {
    const size = map.getSize(), widthNm = distanceNm(map.containerPointToLatLng([0, size.y / 2]).lat,
      map.containerPointToLatLng([0, size.y / 2]).lng, map.containerPointToLatLng([size.x, size.y / 2]).lat,
      map.containerPointToLatLng([size.x, size.y / 2]).lng);
    let step = RING_STEPS_NM[0];
    RING_STEPS_NM.forEach((s) => { if (s <= widthNm / 12) step = s; });
    for (let i = 1; i <= 5; i++) {
      L.circle([c.lat, c.lon], { radius: step * i * 1852, color, weight: 1.2, fill: false, interactive: false }).addTo(group);
      const at = destinationPoint(c.lat, c.lon, 0, step * i);
      L.marker(at, { interactive: false, icon: L.divIcon({ className: "measure-label ring", html: step * i + " nm", iconSize: null }) }).addTo(group);
    }
    out.innerHTML = "<b>Range rings</b> around " + esc(label(picks[0])) + ': <span id="measure-result">every ' + step + " nm</span> · Esc ends";
  }

  function drawCpa(va, vb, color) {
    if (!va || !vb) return;
    if (va.sog == null || va.cog == null || vb.sog == null || vb.cog == null || va.cog >= 360 || vb.cog >= 360) {
      out.innerHTML = "<b>CPA / TCPA</b>: a vessel reports no course or speed"; return;
    }
    const r = cpaTcpa(va, vb);
    L.polyline([[va.lat, va.lon], r.a], { color, weight: 1, dashArray: "3 4", interactive: false }).addTo(group);
    L.polyline([[vb.lat, vb.lon], r.b], { color, weight: 1, dashArray: "3 4", interactive: false }).addTo(group);
    L.polyline([r.a, r.b], { color, weight: 2.5, interactive: false }).addTo(group);
    const when = r.tcpaMin == null ? "constant range (same course and speed)" :
      r.tcpaMin < 0 ? "opening: CPA passed " + Math.round(-r.tcpaMin) + " min ago" :
        "in " + Math.round(r.tcpaMin) + " min (" + hhmm(store.dataClock + r.tcpaMin * 60e3) + ")";
    out.innerHTML = "<b>CPA / TCPA</b> " + esc(va.name || va.mmsi) + " × " + esc(vb.name || vb.mmsi) +
      ': <span id="measure-result" class="num">CPA ' + nmText(r.cpaNm) + " · TCPA " +
      (r.tcpaMin == null ? "—" : Math.round(r.tcpaMin) + " min") + "</span> · " + esc(when) + " · range now " + nmText(r.rangeNm);
  }

  return { start, stop, consumesClick: () => tool != null, active: () => tool };
}

