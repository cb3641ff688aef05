/* The harbour-scale shoreline: GSHHG full resolution (web/tools/make_shoreline.py), from
 * zoom 8 on, inside its region. A canvas tile layer above the Natural Earth land: on each
 * tile it paints the sea over the region's part, then the fine land, read from static
 * per-cell files (web/static/basemap/shore/) fetched only for the cells a tile shows and
 * kept once decoded. Outside the region the tiles stay transparent (Natural Earth shows).
 * Test hook: window.mdaShore.stats() (cells fetched, bytes, tiles drawn, loadedAt: the
 * performance.now() when the visible tiles were last all drawn). */

import { L } from "./leaflet.js";
import { themeColor } from "./dom.js";

const ROOT = "/static/basemap/shore/";
export const SHORE_FROM_ZOOM = 8;

const stats = { cellsFetched: 0, bytes: 0, tiles: 0, ringsDrawn: 0, landCells: 0, loadedAt: 0 };
window.mdaShore = { stats: () => Object.assign({}, stats) };

// Web Mercator, as a fraction of the world (0..1 from the west and the north).
const mx = (lon) => (lon + 180) / 360;
const my = (lat) => {
  const s = Math.sin((lat * Math.PI) / 180);
  return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
};
const tileLon = (x, n) => (x / n) * 360 - 180;
const tileLat = (y, n) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;

// A cell file: rings of (npts, then zigzag varint deltas x, y); see make_shoreline.py.
function decode(buf, x0, y0, cell, q) {
  const b = new Uint8Array(buf);
  let pos = 0;
  const varint = () => {
    let v = 0, mul = 1, c;
    do { c = b[pos++]; v += (c & 0x7f) * mul; mul *= 128; } while (c >= 0x80);
    return v;
  };
  const unzig = (v) => (v % 2 ? -(v + 1) / 2 : v / 2);
  const rings = [];
  while (pos < b.length) {
    const n = varint();
    const qx = new Int32Array(n), qy = new Int32Array(n), x = new Float64Array(n), y = new Float64Array(n);
    let ax = 0, ay = 0, minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      ax += unzig(varint()); ay += unzig(varint());
      qx[i] = ax; qy[i] = ay;
      x[i] = mx(x0 + (ax / q) * cell); y[i] = my(y0 + (ay / q) * cell);
      minX = Math.min(minX, x[i]); maxX = Math.max(maxX, x[i]);
      minY = Math.min(minY, y[i]); maxY = Math.max(maxY, y[i]);
    }
    rings.push({ qx, qy, x, y, minX, maxX, minY, maxY });
  }
  return rings;
}

export function shoreLayer(map, options) {
  const pane = map.getPane("shore") || map.createPane("shore");
  pane.style.zIndex = 260; pane.style.pointerEvents = "none";
  let index = null;
  const cells = new Map();  // "dir/lon_lat" -> Promise<rings>
  const indexReady = fetch(ROOT + "index.json").then((r) => r.json()).then((ix) => {
    index = ix;
    ix.bands.forEach((b) => { b.cellSet = new Set(b.cells); b.landSet = new Set(b.land); });
    return ix;
  });

  function cell(band, name) {
    const key = band.dir + "/" + name;
    if (!cells.has(key)) {
      const [x0, y0] = name.split("_").map(Number);
      cells.set(key, fetch(ROOT + key + ".bin").then((r) => {
        if (!r.ok) throw new Error("shoreline " + key + ": " + r.status);
        return r.arrayBuffer();
      }).then((buf) => {
        stats.cellsFetched += 1; stats.bytes += buf.byteLength;
        return decode(buf, x0, y0, band.cell, index.q);
      }));
    }
    return cells.get(key);
  }

  const Layer = L.GridLayer.extend({
    createTile(coords, done) {
      const tile = document.createElement("canvas");
      const dpr = window.devicePixelRatio || 1, size = this.getTileSize();
      tile.width = size.x * dpr; tile.height = size.y * dpr;
      indexReady.then(() => draw(tile, coords, size, dpr)).then(() => done(null, tile), (e) => done(e, tile));
      return tile;
    }
  });

  function draw(tile, coords, size, dpr) {
    const z = coords.z, n = 2 ** z;
    const band = index.bands.find((b) => b.min_zoom <= z && z <= b.max_zoom);
    const [w, s, e, nn] = index.region;
    const W = tileLon(coords.x, n), E = tileLon(coords.x + 1, n);
    const N = tileLat(coords.y, n), S = tileLat(coords.y + 1, n);
    if (!band || E <= w || W >= e || N <= s || S >= nn) return null;
    const scale = size.x * n, ox = coords.x * size.x, oy = coords.y * size.y;
    const px = (v) => v * scale - ox, py = (v) => v * scale - oy;
    const names = [], land = [];
    for (let cx = w + Math.floor((Math.max(W, w) - w) / band.cell) * band.cell; cx < Math.min(E, e); cx += band.cell) {
      for (let cy = s + Math.floor((Math.max(S, s) - s) / band.cell) * band.cell; cy < Math.min(N, nn); cy += band.cell) {
        const name = cx + "_" + cy;
        if (band.cellSet.has(name)) names.push(name);
        else if (band.landSet.has(name)) land.push([cx, cy]);
      }
    }
    return Promise.all(names.map((nm) => cell(band, nm))).then((all) => {
      const ctx = tile.getContext("2d");
      ctx.scale(dpr, dpr);
      // the sea over the region's part of the tile (Natural Earth's land lies beneath)
      const rx0 = Math.max(0, px(mx(w))), rx1 = Math.min(size.x, px(mx(e)));
      const ry0 = Math.max(0, py(my(nn))), ry1 = Math.min(size.y, py(my(s)));
      ctx.fillStyle = themeColor("--sea");
      ctx.fillRect(rx0, ry0, rx1 - rx0, ry1 - ry0);
      ctx.fillStyle = themeColor("--land");
      land.forEach(([cx, cy]) => {
        stats.landCells += 1;
        const x0 = px(mx(cx)), y0 = py(my(cy + band.cell));
        ctx.fillRect(x0, y0, px(mx(cx + band.cell)) - x0, py(my(cy)) - y0);
      });
      const x0 = coords.x / n, x1 = (coords.x + 1) / n, y0 = coords.y / n, y1 = (coords.y + 1) / n;
      const visible = [];
      all.forEach((rings) => rings.forEach((r) => {
        if (r.maxX >= x0 && r.minX <= x1 && r.maxY >= y0 && r.minY <= y1) visible.push(r);
      }));
      ctx.beginPath();
      visible.forEach((r) => {
        ctx.moveTo(px(r.x[0]), py(r.y[0]));
        for (let i = 1; i < r.x.length; i++) ctx.lineTo(px(r.x[i]), py(r.y[i]));
        ctx.closePath();
      });
      ctx.fill("evenodd");
      // the coast: every segment but those along a cell's edge (the cut, not a coast)
      const q = index.q;
      const edge = (r, i, j) => (r.qx[i] === r.qx[j] && (r.qx[i] === 0 || r.qx[i] === q))
        || (r.qy[i] === r.qy[j] && (r.qy[i] === 0 || r.qy[i] === q));
      ctx.beginPath();
      visible.forEach((r) => {
        const m = r.x.length;
        for (let i = 1; i < m; i++) {
          if (edge(r, i - 1, i)) continue;
          ctx.moveTo(px(r.x[i - 1]), py(r.y[i - 1]));
          ctx.lineTo(px(r.x[i]), py(r.y[i]));
        }
      });
      ctx.strokeStyle = themeColor("--coast"); ctx.lineWidth = 1; ctx.lineJoin = "round";
      ctx.stroke();
      stats.tiles += 1; stats.ringsDrawn += visible.length;
    });
  }

  const layer = new Layer(Object.assign({ pane: "shore", minZoom: SHORE_FROM_ZOOM, maxZoom: 20,
    updateWhenZooming: false, keepBuffer: 1,
    attribution: "Shoreline: GSHHG (Wessel &amp; Smith, LGPL)" }, options || {}));
  layer.on("load", () => { stats.loadedAt = performance.now(); });
  return { layer, ready: indexReady, restyle() { layer.redraw(); } };
}
