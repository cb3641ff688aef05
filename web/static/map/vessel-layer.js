/* The vessel layer: one canvas for every vessel (tens of thousands stay smooth where one
 * DOM marker each would not), with the graticule beneath and, above the symbols, heading
 * lines and COG/SOG vectors, alarm rings and the selection's corner brackets (ux.md).
 * Each vessel is projected once per zoom level; panning is then a subtraction. */

import { L } from "./leaflet.js";
import { byId, el, themeColor } from "./dom.js";
import { esc, num } from "./format.js";
import { BEACON_INDEX, SYM, spriteSet } from "./sprites.js";
import { CLASS_INDEX, classOf, isBeacon } from "./ships.js";
import { store } from "./store.js";

const LOST_AFTER_MS = 20 * 60 * 1000;   // silent this long and moving: a lost target (cross)
const STALE_AFTER_MS = 6 * 60 * 1000;   // silent this long: faded
const VECTOR_MINUTES = 6;               // the COG/SOG vector's length in time
const VECTORS_FROM_ZOOM = 11;           // every vessel's vectors from this zoom on
const NAV_INDEX = CLASS_INDEX.nav;
const LABELS_FROM_ZOOM = 12;            // vessel names beside their symbols from this zoom on
const MAX_LABELS = 400;
const HULLS_FROM_ZOOM = 14;             // true-scale hull outlines from the reported dimensions

/** A vessel in alarm is always drawn, whatever the type filters say. */
function filteredOut(v) { return store.hiddenClasses[v.ci] && !store.alarmVessels.has(v.mmsi); }

/** Options: onDrawn(drawn, total), called after each frame. */
export const VesselLayer = L.Layer.extend({
  initialize(options) { L.setOptions(this, options); this._graticule = true; },

  onAdd(m) {
    this._canvas = L.DomUtil.create("canvas", "mda-vessels leaflet-zoom-animated");
    this._canvas.style.pointerEvents = "none";
    m.getPanes().overlayPane.appendChild(this._canvas);
    this._ctx = this._canvas.getContext("2d");
    this._frame = null;
    this._zoom = m.getZoom();
    this.reset();
  },
  onRemove() { L.DomUtil.remove(this._canvas); },
  getEvents() {
    return { moveend: this.reset, zoomend: this.reset, resize: this.reset, zoomanim: this._animateZoom,
      move: this._onMove };
  },

  showGraticule(on) { this._graticule = on; this.redraw(); },

  /** Draw at the next animation frame: many changes in one frame cost one draw. */
  redraw() {
    if (this._frame || !this._map) return;
    this._frame = L.Util.requestAnimFrame(() => { this._frame = null; this._draw(); });
  },

  /** The nearest drawn vessel within radius px of a container point, or null. */
  hit(cp, radius) {
    const off = pixelOffset(this._map), tx = cp.x + off.x, ty = cp.y + off.y;
    let best = null, bestD = radius * radius;
    store.vessels.forEach((v) => {
      if (v.px == null || filteredOut(v)) return;
      const dx = v.px - tx, dy = v.py - ty;
      if (dx > radius || dx < -radius || dy > radius || dy < -radius) return;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = v; }
    });
    return best;
  },

  _onMove() { if (!this._map._animatingZoom) this.redraw(); },

  _animateZoom(e) {
    const m = this._map;
    if (!m._latLngToNewLayerPoint) { this._canvas.style.visibility = "hidden"; return; }
    const scale = m.getZoomScale(e.zoom, m.getZoom());
    const topLeft = m.containerPointToLatLng([0, 0]);
    L.DomUtil.setTransform(this._canvas, m._latLngToNewLayerPoint(topLeft, e.zoom, e.center), scale);
  },

  reset() {
    const size = this._map.getSize(), dpr = window.devicePixelRatio || 1;
    if (this._w !== size.x || this._h !== size.y || this._dpr !== dpr) this._resize(size, dpr);
    this._canvas.style.visibility = "";
    this.redraw();
  },

  _resize(size, dpr) {
    this._w = size.x; this._h = size.y; this._dpr = dpr;
    this._canvas.width = size.x * dpr; this._canvas.height = size.y * dpr;
    this._canvas.style.width = size.x + "px"; this._canvas.style.height = size.y + "px";
    // vessels are blitted into this pixel buffer, then composited in one drawImage
    this._off = document.createElement("canvas");
    this._off.width = this._canvas.width; this._off.height = this._canvas.height;
    this._octx = this._off.getContext("2d");
    this._img = this._octx.createImageData(this._off.width, this._off.height);
    this._buf = new Uint32Array(this._img.data.buffer);
  },

  _draw() {
    const t0 = performance.now();
    const m = this._map, ctx = this._ctx, dpr = this._dpr, zoom = m.getZoom();
    L.DomUtil.setPosition(this._canvas, m.containerPointToLayerPoint([0, 0]));  // also drops a zoom scale
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this._w, this._h);
    if (this._graticule) drawGraticule(ctx, m, this._w, this._h);
    if (zoom !== this._zoom) { this._zoom = zoom; store.vessels.forEach((v) => { v.px = null; }); }
    const size = zoom < 5 ? 8 : zoom < 7 ? 10 : zoom < 10 ? 12 : 15;  // symbol length, px
    const vectors = zoom >= VECTORS_FROM_ZOOM;
    const { drawn, marked } = this._drawSymbols(zoom, size, vectors);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (zoom >= HULLS_FROM_ZOOM) drawHulls(ctx, m, marked);
    drawMarks(ctx, m, marked, size, vectors);
    if (zoom >= LABELS_FROM_ZOOM) drawLabels(ctx, marked, size);
    store.stats.drawn = drawn;
    store.stats.drawMs = performance.now() - t0;
    store.stats.draws++;
    if (this.options.onDrawn) this.options.onDrawn(drawn, store.vessels.size);
  },

  // Every visible vessel's symbol into the pixel buffer, composited at once. Returns how
  // many were drawn, and those that need more than a symbol: [vessel, x, y, direction].
  _drawSymbols(zoom, size, vectors) {
    const m = this._map, dpr = this._dpr, W = this._w, H = this._h;
    const off = pixelOffset(m), sprites = spriteSet(size, dpr);
    const clock = Math.max(store.dataClock, 1), hidden = store.hiddenClasses;
    const buf = this._buf, bw = this._off.width, bh = this._off.height;
    const marked = [];
    let drawn = 0;
    buf.fill(0);
    store.vessels.forEach((v) => {
      if (v.lat == null) return;
      let ci = v.ci;
      if (ci == null || v.ciType !== v.type) { ci = v.ci = CLASS_INDEX[classOf(v)]; v.ciType = v.type; }
      if (hidden[ci] && !store.alarmVessels.has(v.mmsi)) return;
      if (v.px == null) { const p = m.project([v.lat, v.lon], zoom); v.px = p.x; v.py = p.y; }
      const x = v.px - off.x, y = v.py - off.y;
      if (x < -20 || y < -20 || x > W + 20 || y > H + 20) return;
      drawn++;
      const ageMs = clock - v.ts;
      const dir = direction(v), kind = symbolOf(v, ci, ageMs, dir);
      const img = sprites.get(isBeacon(v.mmsi) ? BEACON_INDEX : ci, kind,
        kind === SYM.TRIANGLE ? Math.round(dir / 5) % 72 : 0, ageMs > STALE_AFTER_MS);
      blit(buf, bw, bh, img, sprites.px, ((x * dpr) | 0) - sprites.half, ((y * dpr) | 0) - sprites.half);
      if (v.mmsi === store.selected || store.alarmVessels.has(v.mmsi) || store.watched.has(v.mmsi) ||
          (vectors && dir != null) || zoom >= LABELS_FROM_ZOOM) {
        marked.push([v, x, y, dir]);
      }
    });
    this._octx.putImageData(this._img, 0, 0);
    this._ctx.setTransform(1, 0, 0, 1, 0, 0);
    this._ctx.drawImage(this._off, 0, 0);
    return { drawn, marked };
  }
});

// The heading when reported, else the course over ground, else null (degrees true).
function direction(v) {
  if (v.hdg != null && v.hdg < 360) return v.hdg;
  return v.cog != null && v.cog < 360 ? v.cog : null;
}

function symbolOf(v, ci, ageMs, dir) {
  const stopped = v.sog != null && v.sog < 0.5;
  if (ageMs > LOST_AFTER_MS && !stopped) return SYM.LOST;
  if (ci === NAV_INDEX) return SYM.DIAMOND;
  if (stopped) return SYM.CIRCLE;
  return dir == null ? SYM.DASHED : SYM.TRIANGLE;
}

// Copy a sprite into the buffer at (x0, y0), clipped: opaque pixels overwrite, translucent
// ones (edges, faded symbols) blend over what is there.
function blit(buf, bw, bh, img, sp, x0, y0) {
  const i0 = x0 < 0 ? -x0 : 0, i1 = x0 + sp > bw ? bw - x0 : sp;
  const j0 = y0 < 0 ? -y0 : 0, j1 = y0 + sp > bh ? bh - y0 : sp;
  for (let j = j0; j < j1; j++) {
    const row = (y0 + j) * bw + x0, srow = j * sp;
    for (let i = i0; i < i1; i++) {
      const sv = img[srow + i], sa = sv >>> 24;
      if (sa === 0) continue;
      const di = row + i, dv = buf[di];
      if (sa === 255 || dv === 0) { buf[di] = sv; continue; }
      const da = dv >>> 24, k = sa / 255, ik = 1 - k;
      buf[di] = ((Math.max(sa, da) << 24) | ((((sv >>> 16) & 255) * k + ((dv >>> 16) & 255) * ik) << 16) |
        ((((sv >>> 8) & 255) * k + ((dv >>> 8) & 255) * ik) << 8) | ((sv & 255) * k + (dv & 255) * ik)) >>> 0;
    }
  }
}

// Above the symbols: vectors, alarm rings and selection brackets.
function drawMarks(ctx, m, marked, s, vectors) {
  const flashOn = (Math.floor(performance.now() / 500) % 2) === 0;
  const colors = { alarm: themeColor("--alarm"), warning: themeColor("--warning"), track: themeColor("--track"),
    watch: themeColor("--watch") };
  marked.forEach(([v, x, y, dir]) => {
    const selected = v.mmsi === store.selected, alarm = store.alarmVessels.get(v.mmsi);
    if (dir != null && (selected || alarm || vectors) && v.sog != null && v.sog >= 0.5) {
      drawVectors(ctx, m, v, x, y, s, colors.track);
    }
    // A ring that flashes only while the alarm is unacknowledged: a double solid ring for
    // an alarm, a single dashed one for a warning (shape, not colour alone).
    if (alarm && (alarm !== "alarm-open" || flashOn)) {
      if (alarm === "warning") drawWarningRing(ctx, x, y, s, colors.warning);
      else drawRings(ctx, x, y, s, colors.alarm);
    }
    if (store.watched.has(v.mmsi)) drawWatchMark(ctx, x, y, s, colors.watch);
    if (selected) drawBrackets(ctx, x, y, s, colors.track);
  });
}

// The heading line (solid) from the apex and the COG/SOG vector (dashed).
function drawVectors(ctx, m, v, x, y, s, color) {
  ctx.strokeStyle = color; ctx.lineWidth = 1;
  if (v.hdg != null && v.hdg < 360) {
    const ha = v.hdg * Math.PI / 180;
    ctx.beginPath(); ctx.moveTo(x + Math.sin(ha) * s * 0.6, y - Math.cos(ha) * s * 0.6);
    ctx.lineTo(x + Math.sin(ha) * s * 1.6, y - Math.cos(ha) * s * 1.6); ctx.stroke();
  }
  if (v.cog != null && v.cog < 360) {
    const p2 = m.latLngToContainerPoint(destination(v.lat, v.lon, v.cog, v.sog * 1852 * VECTOR_MINUTES / 60));
    ctx.setLineDash([4, 3]); ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(p2.x, p2.y); ctx.stroke(); ctx.setLineDash([]);
  }
}

// A distinct double ring: tankers are red, so a vessel in alarm is never marked by colour alone.
function drawRings(ctx, x, y, s, color) {
  ctx.strokeStyle = color; ctx.lineWidth = 2;
  ctx.beginPath(); ctx.arc(x, y, s * 0.95, 0, 2 * Math.PI); ctx.stroke();
  ctx.lineWidth = 1; ctx.beginPath(); ctx.arc(x, y, s * 1.3, 0, 2 * Math.PI); ctx.stroke();
}

function drawWarningRing(ctx, x, y, s, color) {
  ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.setLineDash([3, 3]);
  ctx.beginPath(); ctx.arc(x, y, s * 1.1, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]);
}

// A vessel on a watch list: a diamond frame around it.
function drawWatchMark(ctx, x, y, s, color) {
  const r = s * 1.55;
  ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
  ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y); ctx.closePath(); ctx.stroke();
}

// Names beside the symbols at harbour scale (selected, in alarm and watched first).
function drawLabels(ctx, marked, s) {
  ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
  ctx.lineWidth = 3; ctx.strokeStyle = themeColor("--sea"); ctx.fillStyle = themeColor("--text");
  const first = (v) => (v.mmsi === store.selected || store.alarmVessels.has(v.mmsi) || store.watched.has(v.mmsi) ? 0 : 1);
  const rows = marked.filter(([v]) => v.name).sort((a, b) => first(a[0]) - first(b[0])).slice(0, MAX_LABELS);
  rows.forEach(([v, x, y]) => {
    ctx.strokeText(v.name, x + s * 0.9, y - s * 0.6); ctx.fillText(v.name, x + s * 0.9, y - s * 0.6);
  });
}

// True-scale hull outlines from the reported dimensions (distances from the GPS antenna to
// bow, stern, port and starboard), oriented along the heading (or course).
function drawHulls(ctx, m, marked) {
  ctx.lineWidth = 1; ctx.strokeStyle = themeColor("--track");
  marked.forEach(([v, x, y, dir]) => {
    const d = store.dims.get(v.mmsi);
    if (!d || dir == null) return;
    const [bow, stern, port, stbd] = d;
    if (!(bow + stern > 0 && port + stbd > 0)) return;
    const mpp = 40075016.7 * Math.cos(v.lat * Math.PI / 180) / (256 * Math.pow(2, m.getZoom()));  // metres per pixel
    const k = 1 / mpp, a = dir * Math.PI / 180, sn = Math.sin(a), cs = Math.cos(a);
    const len = (bow + stern) * k;
    if (len < 6) return;  // smaller than its symbol: nothing to add
    // Hull corners in ship axes (forward f, starboard r), metres from the antenna; a pointed bow.
    const shoulder = bow - Math.min((bow + stern) * 0.15, (port + stbd));
    const pts = [[bow, (stbd - port) / 2], [shoulder, stbd], [-stern, stbd], [-stern, -port], [shoulder, -port]];
    ctx.beginPath();
    pts.forEach(([f, r], i) => {
      const px = x + (f * sn + r * cs) * k, py = y + (-f * cs + r * sn) * k;
      if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    });
    ctx.closePath(); ctx.stroke();
  });
}

function drawBrackets(ctx, x, y, s, color) {  // corner brackets around the selected vessel
  const r = s * 1.25, c = s * 0.5;
  ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
  [[-1, -1], [1, -1], [1, 1], [-1, 1]].forEach(([qx, qy]) => {
    const cx = x + qx * r, cy = y + qy * r;
    ctx.moveTo(cx - qx * c, cy); ctx.lineTo(cx, cy); ctx.lineTo(cx, cy - qy * c);
  });
  ctx.stroke();
}

// Lines of latitude and longitude, their spacing following the zoom (10° ... 1′).
function drawGraticule(ctx, m, W, H) {
  const z = m.getZoom(), step = z < 4 ? 10 : z < 6 ? 5 : z < 8 ? 1 : z < 10 ? 0.5 : z < 12 ? 1 / 6 : 1 / 60;
  const b = m.getBounds();
  ctx.strokeStyle = themeColor("--grid");
  ctx.lineWidth = 1; ctx.beginPath();
  const lat0 = Math.floor(b.getSouth() / step) * step, lon0 = Math.floor(b.getWest() / step) * step;
  for (let lat = lat0; lat <= b.getNorth(); lat += step) {
    const y = m.latLngToContainerPoint([lat, b.getWest()]).y; ctx.moveTo(0, y); ctx.lineTo(W, y);
  }
  for (let lon = lon0; lon <= b.getEast(); lon += step) {
    const x = m.latLngToContainerPoint([b.getCenter().lat, lon]).x; ctx.moveTo(x, 0); ctx.lineTo(x, H);
  }
  ctx.stroke();
}

// A projected pixel (at the current zoom) minus this is a container point.
function pixelOffset(m) {
  const c = m.getCenter(), p = m.project(c, m.getZoom()), cp = m.latLngToContainerPoint(c);
  return { x: p.x - cp.x, y: p.y - cp.y };
}

// The point reached from (lat, lon) along a bearing (degrees true) after some metres, on a sphere.
function destination(lat, lon, bearing, metres) {
  const R = 6371008.8, d = metres / R, b = bearing * Math.PI / 180;
  const p1 = lat * Math.PI / 180, l1 = lon * Math.PI / 180;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return L.latLng(p2 * 180 / Math.PI, l2 * 180 / Math.PI);
}

/** The vessel under the pointer: a hover box with its name, MMSI and speed, a pointer
 *  cursor, and a click that picks it (onPick(mmsi)). */
export function followPointer(map, layer, { onPick }) {
  const hoverBox = el("div", { id: "vessel-hover", hidden: "" });
  byId("map-wrap").appendChild(hoverBox);
  map.on("mousemove", (e) => {
    const v = layer.hit(e.containerPoint, 9);
    map.getContainer().style.cursor = v ? "pointer" : "";
    if (!v) { hoverBox.hidden = true; return; }
    hoverBox.hidden = false;
    hoverBox.innerHTML = "<b>" + esc(v.name || "MMSI " + v.mmsi) + "</b> · " + v.mmsi + " · " + num(v.sog, 1, " kn");
    hoverBox.style.left = (e.containerPoint.x + 14) + "px"; hoverBox.style.top = (e.containerPoint.y + 10) + "px";
  });
  map.on("mouseout", () => { hoverBox.hidden = true; });
  map.on("click", (e) => {
    const v = layer.hit(e.containerPoint, 10);
    if (v) onPick(v.mmsi);
  });
}
