/* mda watch console: the live map and the alert desk.
 *
 * Everything is served by the app (Leaflet vendored, land polygons shipped): no request
 * leaves this server unless an online tile layer is configured. Vessels are drawn by a
 * custom canvas layer (one canvas, batched paths per colour), not one DOM marker each,
 * so tens of thousands stay smooth. Times are UTC.
 *
 * Test and automation hooks: window.mdaMap (vesselCount, vesselPosition, ...).
 */
(function () {
  "use strict";

  var CONFIG = JSON.parse(document.getElementById("mda-config").textContent || "{}");
  var CSRF = document.querySelector('meta[name="csrf-token"]').content;

  // ------------------------------------------------------------------ reference data

  // ux.md: colours by AIS ship type (the MarineTraffic family).
  var CLASSES = [
    { id: "cargo", label: "Cargo", color: "#3ccf6e" },
    { id: "tanker", label: "Tanker", color: "#e5484d" },
    { id: "passenger", label: "Passenger", color: "#3b82f6" },
    { id: "hsc", label: "High-speed craft", color: "#f5d90a" },
    { id: "special", label: "Tug, pilot, SAR", color: "#22d3ee" },
    { id: "fishing", label: "Fishing", color: "#fa8072" },
    { id: "pleasure", label: "Sailing, pleasure", color: "#d946ef" },
    { id: "nav", label: "AtoN, base station", color: "#c9d1d9" },
    { id: "unknown", label: "Other, unknown", color: "#8b97a3" }
  ];
  var CLASS_BY_ID = {};
  CLASSES.forEach(function (c) { CLASS_BY_ID[c.id] = c; });

  function classOf(v) {
    var m = v.mmsi;
    if ((m >= 990000000 && m <= 999999999) || (m >= 1000000 && m <= 9999999)) return "nav";
    var t = v.type;
    if (t == null) return "unknown";
    if (t >= 70 && t <= 79) return "cargo";
    if (t >= 80 && t <= 89) return "tanker";
    if (t >= 60 && t <= 69) return "passenger";
    if (t >= 40 && t <= 49) return "hsc";
    if ((t >= 31 && t <= 35) || (t >= 50 && t <= 59)) return "special";
    if (t === 30) return "fishing";
    if (t === 36 || t === 37) return "pleasure";
    return "unknown";
  }
  function isBeacon(m) { // AIS-SART, MOB, EPIRB-AIS
    var p = Math.floor(m / 1000000);
    return p === 970 || p === 972 || p === 974;
  }

  var SHIP_TYPE_TEXT = { 30: "Fishing", 31: "Towing", 32: "Towing (large)", 33: "Dredging", 34: "Diving ops",
    35: "Military ops", 36: "Sailing", 37: "Pleasure craft", 50: "Pilot vessel", 51: "Search and rescue",
    52: "Tug", 53: "Port tender", 54: "Anti-pollution", 55: "Law enforcement", 58: "Medical transport",
    59: "Non-combatant" };
  function shipTypeText(t) {
    if (t == null) return "unknown";
    if (SHIP_TYPE_TEXT[t]) return SHIP_TYPE_TEXT[t] + " (" + t + ")";
    var c = CLASS_BY_ID[classOf({ mmsi: 200000000, type: t })];
    return (c.id === "unknown" ? "Other" : c.label) + " (" + t + ")";
  }
  var NAV_STATUS = ["Under way using engine", "At anchor", "Not under command", "Restricted manoeuvrability",
    "Constrained by draught", "Moored", "Aground", "Engaged in fishing", "Under way sailing",
    "Reserved (HSC)", "Reserved (WIG)", "Power-driven towing astern", "Power-driven pushing/towing",
    "Reserved", "AIS-SART / MOB / EPIRB active", "Not defined"];

  // Maritime Identification Digits -> ISO 3166 alpha-2, for the flags of the region and
  // the main open registries (ITU MID table).
  var MID = {};
  (function () {
    var t = "201AL 203AT 205BE 209CY 210CY 211DE 212CY 215MT 218DE 219DK 220DK 224ES 225ES 226FR 227FR 228FR " +
      "229MT 230FI 232GB 233GB 234GB 235GB 236GI 237GR 238HR 239GR 240GR 241GR 244NL 245NL 246NL 247IT 248MT " +
      "249MT 250IE 255PT 256MT 257NO 258NO 259NO 261PL 265SE 266SE 271TR 273RU 304AG 305AG 308BS 309BS 311BS " +
      "312BZ 314BB 316CA 338US 339JM 341KN 352PA 351PA 353PA 354PA 355PA 356PA 357PA 366US 367US 368US 369US " +
      "370PA 371PA 372PA 373PA 374PA 375VC 376VC 377VC 403SA 405BD 408BH 412CN 413CN 414CN 416TW 417LK 419IN " +
      "422IR 425IQ 431JP 432JP 440KR 441KR 447KW 455MV 457MN 461OM 463PK 466QA 470AE 471AE 473YE 475YE 477HK " +
      "503AU 506MM 511PW 518CK 525ID 533MY 538MH 548PH 563SG 564SG 565SG 566SG 567TH 572TV 574VN 576VU 577VU " +
      "601ZA 613CM 616KM 619CI 620KM 621DJ 622EG 624ET 625ER 626GA 627GH 630GW 632GN 634KE 636LR 637LR 645MU " +
      "647MG 649ML 650MZ 654MR 655MW 657NG 659NA 661RW 662SD 664SC 666SO 667SL 668ST 669SZ 670TD 671TG 672TN " +
      "674TZ 677TZ 678UG 679ZA";
    t.split(" ").forEach(function (s) { MID[s.slice(0, 3)] = s.slice(3); });
  })();
  function flagOf(mmsi) {
    var s = String(mmsi);
    if (s.length !== 9) return "";
    var mid = s[0] === "0" || s[0] === "1" || s[0] === "9" ? s.slice(2, 5) : s.slice(0, 3);
    if (s.startsWith("111") || s.startsWith("970") || s.startsWith("972") || s.startsWith("974")) mid = s.slice(3, 6);
    return MID[mid] || "";
  }

  // info is a data-quality notice, not a bridge priority: it never rings, and stays off
  // the desk unless the officer asks for it ("Data quality (N)").
  var SEVERITY_PRIO = { critical: "alarm", high: "alarm", medium: "warning", low: "caution", info: "notice" };
  var PRIO_LABEL = { alarm: "ALARM", warning: "WARNING", caution: "CAUTION", notice: "NOTICE" };
  // What the officer found when closing (store.alerts.OUTCOMES).
  var OUTCOME_TEXT = { false_alarm: "False alarm", confirmed: "Confirmed", no_action: "No action" };
  var KIND_TEXT = { loitering: "Loitering", encounter: "Encounter", ais_gap: "AIS gap",
    position_jump: "Position jump", identity_clash: "Identity clash", on_land: "Position on land",
    wrong_way: "Wrong way in lane", lane_deviation: "Lane deviation", zone_entry: "Zone entry",
    distress_beacon: "Distress beacon" };

  // ------------------------------------------------------------------ formatting

  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = "0" + n; return n; }
  function utc(t) { // Date|ms -> "2024-05-01 12:34:56Z"
    var d = t instanceof Date ? t : new Date(t);
    if (isNaN(d)) return "—";
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + "Z";
  }
  function hhmm(t) { // Date|ms|ISO -> "12:34Z"
    var d = t instanceof Date ? t : new Date(t);
    return isNaN(d) ? "—" : pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + "Z";
  }
  function localTitle(t) { var d = new Date(t); return isNaN(d) ? "" : "local: " + d.toString(); }
  function ago(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s ago";
    var m = Math.round(s / 60);
    if (m < 60) return m + " min ago";
    var h = Math.floor(m / 60);
    if (h < 48) return h + " h " + pad(m % 60) + " min ago";
    return Math.floor(h / 24) + " d ago";
  }
  function age(s) {
    if (s == null) return "no data";
    if (s < 90) return Math.round(s) + " s";
    if (s < 5400) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function dm(v, pos, neg, degWidth) {
    var h = v >= 0 ? pos : neg; v = Math.abs(v);
    var d = Math.floor(v), m = (v - d) * 60;
    if (m >= 59.9995) { d += 1; m = 0; }
    return pad(d, degWidth) + "°" + (m < 10 ? "0" : "") + m.toFixed(3) + "′" + h;
  }
  function latlonText(lat, lon) { return dm(lat, "N", "S", 2) + " " + dm(lon, "E", "W", 3); }
  function num(v, digits, unit) { return v == null ? "—" : Number(v).toFixed(digits) + (unit || ""); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (html != null) e.innerHTML = html;
    return e;
  }

  // ------------------------------------------------------------------ HTTP

  function api(path, opts) {
    opts = opts || {};
    var headers = { "Accept": "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = CSRF;
    return fetch(path, { method: opts.method || "GET", headers: headers, credentials: "same-origin",
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined })
      .then(function (r) {
        if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("logged out"); }
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
          return body;
        });
      });
  }

  // ------------------------------------------------------------------ the map

  var map = L.map("map", { center: [8, 72], zoom: 4, minZoom: 2, maxZoom: 16, worldCopyJump: true,
    zoomControl: true, attributionControl: true, preferCanvas: true });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution("Land: Natural Earth");
  var landRenderer = L.canvas({ padding: 0.3 });

  var basemaps = {};
  var landLayer = L.layerGroup().addTo(map);
  basemaps["Offline land (Natural Earth)"] = landLayer;
  if (CONFIG.tiles_url) {
    basemaps["Online tiles"] = L.tileLayer(CONFIG.tiles_url, { maxZoom: 18, attribution: "tiles: configured server" });
  }
  function landStyle() {
    var cs = getComputedStyle(document.documentElement);
    return { renderer: landRenderer, stroke: true, weight: 0.8, color: cs.getPropertyValue("--coast").trim(),
      fillColor: cs.getPropertyValue("--land").trim(), fillOpacity: 1, interactive: false };
  }
  var land = { overview: null, detail: null, loadingDetail: false };
  function loadLand(which) {
    return fetch("/static/basemap/land-" + which + ".geojson").then(function (r) { return r.json(); })
      .then(function (fc) { land[which] = L.geoJSON(fc, { style: landStyle, interactive: false }); updateLand(); });
  }
  function updateLand() {
    var detail = map.getZoom() >= 6;
    if (detail && !land.detail && !land.loadingDetail) { land.loadingDetail = true; loadLand("detail"); }
    var want = detail && land.detail ? land.detail : land.overview;
    [land.overview, land.detail].forEach(function (l) {
      if (!l) return;
      if (l === want && !landLayer.hasLayer(l)) landLayer.addLayer(l);
      if (l !== want && landLayer.hasLayer(l)) landLayer.removeLayer(l);
    });
  }
  var landReady = loadLand("overview");
  map.on("zoomend", updateLand);

  // Zones and lanes (from /api/zones), each a layer the officer can switch.
  var zoneLayer = L.layerGroup().addTo(map);
  var laneLayer = L.layerGroup().addTo(map);
  var portLayer = L.layerGroup();
  var ZONE_COLORS = { lane: "--lane", restricted: "--restricted", protected: "--protected", port: "--port",
    anchorage: "--port", coverage: "--muted" };
  function zoneStyle(f) {
    var cs = getComputedStyle(document.documentElement);
    var k = f.properties.kind;
    var c = cs.getPropertyValue(ZONE_COLORS[k] || "--zone").trim();
    var s = { color: c, weight: 1.4, fillColor: c, fillOpacity: k === "lane" ? 0.10 : 0.06, opacity: 0.9 };
    if (k === "lane") s.dashArray = "6 4";
    if (k === "port" || k === "anchorage") { s.dashArray = "2 3"; s.weight = 1; }
    return s;
  }
  function loadZones() {
    return api("/api/zones").then(function (fc) {
      zoneLayer.clearLayers(); laneLayer.clearLayers(); portLayer.clearLayers();
      L.geoJSON(fc, {
        style: zoneStyle,
        onEachFeature: function (f, layer) {
          var p = f.properties;
          var label = p.name + (p.direction != null ? " → " + Math.round(p.direction) + "°" : "");
          layer.bindTooltip(esc(label), { sticky: true, className: "vessel-tip" });
          var target = p.kind === "lane" ? laneLayer : (p.kind === "port" || p.kind === "anchorage") ? portLayer : zoneLayer;
          target.addLayer(layer);
        }
      });
      return fc.features.length;
    }).catch(function (e) { console.warn("zones:", e.message); return 0; });
  }

  // ------------------------------------------------------------------ vessels

  var vessels = new Map();      // mmsi -> {mmsi, lat, lon, sog, cog, hdg, nav, ts, name, callsign, type}
  var hidden = {};              // class id -> true when filtered out
  var selected = null;          // mmsi
  var alarmVessels = new Map(); // mmsi -> "alarm-open" | "alarm" | "warning"
  var dataClock = 0;            // newest fix time (ms): "now" for staleness, also on replays

  // "Now" for the age of an event time (a fix, an alert's start or end, a feed's last
  // event): the wall clock, or the data clock when the data runs ahead of it (a scenario
  // or replay faster than real time), so a new alert never reads "0 s ago" for an hour
  // and a last fix never lies in the future. Acknowledgements and closings are wall clock.
  function eventNow() { return Math.max(Date.now(), dataClock); }

  function upsertVessel(mmsi, lat, lon, sog, cog, hdg, nav, tsMs) {
    var v = vessels.get(mmsi);
    if (!v) { v = { mmsi: mmsi, name: null, callsign: null, type: null }; vessels.set(mmsi, v); }
    else if (v.ts && tsMs < v.ts) return v;  // never move a vessel back in time
    v.lat = lat; v.lon = lon; v.sog = sog; v.cog = cog; v.hdg = hdg; v.nav = nav; v.ts = tsMs;
    v.px = null;  // projected point is stale
    if (tsMs > dataClock) dataClock = tsMs;
    return v;
  }

  function loadVessels() {
    var t0 = performance.now();
    return api("/api/vessels").then(function (fc) {
      var seen = new Set();
      fc.features.forEach(function (f) {
        var p = f.properties, c = f.geometry.coordinates;
        var v = upsertVessel(p.mmsi, c[1], c[0], p.sog, p.cog, p.heading, p.nav_status, Date.parse(p.last_seen));
        v.name = p.name; v.callsign = p.callsign; v.type = p.ship_type;
        seen.add(p.mmsi);
      });
      vessels.forEach(function (v, m) { if (!seen.has(m)) vessels.delete(m); });
      stats.loadMs = performance.now() - t0;
      legendCounts(); renderDataClock();
      layer.redraw();
    });
  }

  // A canvas layer: projects each vessel once per zoom level, then panning is a subtraction.
  var VesselLayer = L.Layer.extend({
    onAdd: function (m) {
      this._canvas = L.DomUtil.create("canvas", "mda-vessels leaflet-zoom-animated");
      this._canvas.style.pointerEvents = "none";
      m.getPanes().overlayPane.appendChild(this._canvas);
      this._ctx = this._canvas.getContext("2d");
      this._frame = null;
      this._zoom = m.getZoom();
      this.reset();
    },
    onRemove: function () { L.DomUtil.remove(this._canvas); },
    getEvents: function () {
      return { moveend: this.reset, zoomend: this.reset, resize: this.reset, zoomanim: this._animateZoom,
        move: this._onMove };
    },
    _onMove: function () { if (!this._map._animatingZoom) this.redraw(); },
    _animateZoom: function (e) {
      var m = this._map;
      if (!m._latLngToNewLayerPoint) { this._canvas.style.visibility = "hidden"; return; }
      var scale = m.getZoomScale(e.zoom, m.getZoom());
      var topLeft = m.containerPointToLatLng([0, 0]);
      L.DomUtil.setTransform(this._canvas, m._latLngToNewLayerPoint(topLeft, e.zoom, e.center), scale);
    },
    reset: function () {
      var m = this._map, size = m.getSize(), dpr = window.devicePixelRatio || 1;
      if (this._w !== size.x || this._h !== size.y || this._dpr !== dpr) {
        this._w = size.x; this._h = size.y; this._dpr = dpr;
        this._canvas.width = size.x * dpr; this._canvas.height = size.y * dpr;
        this._canvas.style.width = size.x + "px"; this._canvas.style.height = size.y + "px";
        // vessels are blitted into this pixel buffer, then composited in one drawImage
        this._off = document.createElement("canvas");
        this._off.width = this._canvas.width; this._off.height = this._canvas.height;
        this._octx = this._off.getContext("2d");
        this._img = this._octx.createImageData(this._off.width, this._off.height);
        this._buf = new Uint32Array(this._img.data.buffer);
      }
      this._canvas.style.visibility = "";
      this.redraw();
    },
    redraw: function () {
      var self = this;
      if (this._frame || !this._map) return;
      this._frame = L.Util.requestAnimFrame(function () { self._frame = null; self._draw(); });
    },
    _draw: function () {
      var t0 = performance.now();
      var m = this._map, ctx = this._ctx, dpr = this._dpr, W = this._w, H = this._h;
      var zoom = m.getZoom();
      L.DomUtil.setPosition(this._canvas, m.containerPointToLayerPoint([0, 0]));  // also drops a zoom scale
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      drawGraticule(ctx, m, W, H);
      if (zoom !== this._zoom) { this._zoom = zoom; vessels.forEach(function (v) { v.px = null; }); }
      var off = pixelOffset(m), ox = off.x, oy = off.y;
      var size = zoom < 5 ? 8 : zoom < 7 ? 10 : zoom < 10 ? 12 : 15;  // symbol length, px
      var sprites = spriteSet(size, dpr), half = sprites.half;
      var vectors = zoom >= 11;
      var lostAfter = 20 * 60 * 1000, staleAfter = 6 * 60 * 1000;
      var clock = Math.max(dataClock, 1);
      var drawn = 0, extra = [];
      var buf = this._buf, BW = this._off.width, BH = this._off.height, SP = sprites.px;
      buf.fill(0);
      vessels.forEach(function (v) {
        if (v.lat == null) return;
        var ci = v.ci;
        if (ci == null || v.ciType !== v.type) { ci = v.ci = CLASS_INDEX[classOf(v)]; v.ciType = v.type; }
        if (hiddenIdx[ci]) return;
        if (v.px == null) { var p = m.project([v.lat, v.lon], zoom); v.px = p.x; v.py = p.y; }
        var x = v.px - ox, y = v.py - oy;
        if (x < -20 || y < -20 || x > W + 20 || y > H + 20) return;
        drawn++;
        var ageMs = clock - v.ts;
        var stopped = v.sog != null && v.sog < 0.5;
        var dir = v.hdg != null && v.hdg < 360 ? v.hdg : (v.cog != null && v.cog < 360 ? v.cog : null);
        var kind = ageMs > lostAfter && !stopped ? SYM_LOST : ci === NAV_INDEX ? SYM_DIAMOND :
          stopped ? SYM_CIRCLE : dir == null ? SYM_DASHED : SYM_TRIANGLE;
        var img = sprites.get(isBeacon(v.mmsi) ? BEACON_INDEX : ci, kind,
          kind === SYM_TRIANGLE ? Math.round(dir / 5) % 72 : 0, ageMs > staleAfter);
        // blit: opaque pixels overwrite, translucent ones (edges, faded) blend
        var x0 = ((x * dpr) | 0) - half, y0 = ((y * dpr) | 0) - half;
        var i0 = x0 < 0 ? -x0 : 0, i1 = x0 + SP > BW ? BW - x0 : SP;
        var j0 = y0 < 0 ? -y0 : 0, j1 = y0 + SP > BH ? BH - y0 : SP;
        for (var j = j0; j < j1; j++) {
          var row = (y0 + j) * BW + x0, srow = j * SP;
          for (var i = i0; i < i1; i++) {
            var sv = img[srow + i], sa = sv >>> 24;
            if (sa === 0) continue;
            var di = row + i, dv = buf[di];
            if (sa === 255 || dv === 0) { buf[di] = sv; continue; }
            var da = dv >>> 24, k = sa / 255, ik = 1 - k;
            buf[di] = ((Math.max(sa, da) << 24) | ((((sv >>> 16) & 255) * k + ((dv >>> 16) & 255) * ik) << 16) |
              ((((sv >>> 8) & 255) * k + ((dv >>> 8) & 255) * ik) << 8) | ((sv & 255) * k + (dv & 255) * ik)) >>> 0;
          }
        }
        if (v.mmsi === selected || alarmVessels.has(v.mmsi) || (vectors && dir != null)) extra.push([v, x, y, dir]);
      });
      this._octx.putImageData(this._img, 0, 0);
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(this._off, 0, 0);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      var s = size;
      var flashOn = (Math.floor(performance.now() / 500) % 2) === 0;
      var cssv = getComputedStyle(document.documentElement);
      var alarmColor = cssv.getPropertyValue("--alarm").trim(), warnColor = cssv.getPropertyValue("--warning").trim();
      var trackColor = cssv.getPropertyValue("--track").trim();
      extra.forEach(function (e) {
        var v = e[0], x = e[1], y = e[2], dir = e[3];
        var isSel = v.mmsi === selected, alarm = alarmVessels.get(v.mmsi);
        if (dir != null && (isSel || alarm || vectors) && v.sog != null && v.sog >= 0.5) {
          // heading line (solid) from the apex, COG/SOG vector (dashed) for 6 minutes
          ctx.strokeStyle = trackColor; ctx.lineWidth = 1;
          if (v.hdg != null && v.hdg < 360) {
            var ha = v.hdg * Math.PI / 180;
            ctx.beginPath(); ctx.moveTo(x + Math.sin(ha) * s * 0.6, y - Math.cos(ha) * s * 0.6);
            ctx.lineTo(x + Math.sin(ha) * s * 1.6, y - Math.cos(ha) * s * 1.6); ctx.stroke();
          }
          if (v.cog != null && v.cog < 360) {
            var dest = destination(v.lat, v.lon, v.cog, v.sog * 1852 * 0.1);  // 6 min
            var p2 = m.latLngToContainerPoint(dest);
            ctx.setLineDash([4, 3]); ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(p2.x, p2.y); ctx.stroke(); ctx.setLineDash([]);
          }
        }
        if (alarm) {  // distinct double ring: tankers are red, so never by colour alone
          if (alarm !== "alarm-open" || flashOn) {
            ctx.strokeStyle = alarm === "warning" ? warnColor : alarmColor; ctx.lineWidth = 2;
            ctx.beginPath(); ctx.arc(x, y, s * 0.95, 0, 2 * Math.PI); ctx.stroke();
            ctx.lineWidth = 1; ctx.beginPath(); ctx.arc(x, y, s * 1.3, 0, 2 * Math.PI); ctx.stroke();
          }
        }
        if (isSel) {  // corner brackets
          var r = s * 1.25, c = s * 0.5;
          ctx.strokeStyle = trackColor; ctx.lineWidth = 1.5; ctx.beginPath();
          [[-1, -1], [1, -1], [1, 1], [-1, 1]].forEach(function (q) {
            var cx = x + q[0] * r, cy = y + q[1] * r;
            ctx.moveTo(cx - q[0] * c, cy); ctx.lineTo(cx, cy); ctx.lineTo(cx, cy - q[1] * c);
          });
          ctx.stroke();
        }
      });
      this._ox = ox; this._oy = oy;
      stats.drawn = drawn;
      stats.drawMs = performance.now() - t0;
      stats.draws++;
      document.getElementById("vessel-count").textContent = drawn.toLocaleString("en") +
        (drawn !== vessels.size ? " / " + vessels.size.toLocaleString("en") : "");
    },
    hit: function (cp, radius) {  // the nearest drawn vessel within radius px of a container point
      var off = pixelOffset(this._map), best = null, bestD = radius * radius;
      var tx = cp.x + off.x, ty = cp.y + off.y;
      vessels.forEach(function (v) {
        if (v.px == null || hiddenIdx[v.ci]) return;
        var dx = v.px - tx, dy = v.py - ty;
        if (dx > radius || dx < -radius || dy > radius || dy < -radius) return;
        var d = dx * dx + dy * dy;
        if (d <= bestD) { bestD = d; best = v; }
      });
      return best;
    }
  });

  // Pre-rendered symbols: one small bitmap per class, symbol kind, 5-degree heading step
  // and age (faded), copied pixel by pixel into one buffer that is composited once per
  // frame. Far cheaper than a path or a drawImage per vessel on a software canvas.
  var SYM_TRIANGLE = 0, SYM_CIRCLE = 1, SYM_DASHED = 2, SYM_DIAMOND = 3, SYM_LOST = 4;
  var CLASS_INDEX = {};
  CLASSES.forEach(function (c, i) { CLASS_INDEX[c.id] = i; });
  var NAV_INDEX = CLASS_INDEX.nav, BEACON_INDEX = CLASSES.length;
  var SPRITE_COLORS = CLASSES.map(function (c) { return c.color; }).concat(["#ff2d2d"]);
  var hiddenIdx = [];
  var spriteCache = null;
  function spriteSet(size, dpr) {
    if (spriteCache && spriteCache.size === size && spriteCache.dpr === dpr) return spriteCache;
    var px = Math.ceil(size * 1.2 * dpr) + 2, cache = new Map();
    spriteCache = {
      size: size, dpr: dpr, half: px / 2 | 0, px: px,
      get: function (ci, kind, bucket, faded) {  // the sprite's pixels (Uint32, RGBA in memory order)
        var key = ((ci * 5 + kind) * 72 + bucket) * 2 + (faded ? 1 : 0);
        var img = cache.get(key);
        if (!img) {
          var c = renderSprite(px, size * dpr, SPRITE_COLORS[ci], kind, bucket * 5, faded);
          img = new Uint32Array(c.getContext("2d").getImageData(0, 0, px, px).data.buffer);
          cache.set(key, img);
        }
        return img;
      }
    };
    return spriteCache;
  }
  function renderSprite(px, s, color, kind, deg, faded) {
    var c = document.createElement("canvas");
    c.width = c.height = px;
    var g = c.getContext("2d", { willReadFrequently: true }), x = px / 2, y = px / 2, hw = s * 0.36;
    g.globalAlpha = faded ? 0.45 : 1;
    g.fillStyle = color; g.strokeStyle = "rgba(0,0,0,.85)"; g.lineWidth = Math.max(1, s / 14);
    g.beginPath();
    if (kind === SYM_TRIANGLE || kind === SYM_DASHED) {  // acute isosceles, apex along the heading
      var a = deg * Math.PI / 180, sn = Math.sin(a), cs = Math.cos(a);
      g.moveTo(x + sn * s * 0.55, y - cs * s * 0.55);
      g.lineTo(x - sn * s * 0.4 + cs * hw, y + cs * s * 0.4 + sn * hw);
      g.lineTo(x - sn * s * 0.4 - cs * hw, y + cs * s * 0.4 - sn * hw);
      g.closePath();
      if (kind === SYM_DASHED) { g.setLineDash([2, 2]); g.strokeStyle = color; g.lineWidth = 1.3; g.stroke(); }
      else { g.fill(); g.stroke(); }
    } else if (kind === SYM_CIRCLE) {
      g.arc(x, y, s * 0.26, 0, 2 * Math.PI); g.fill(); g.stroke();
    } else if (kind === SYM_DIAMOND) {
      var r = s * 0.38;
      g.moveTo(x, y - r); g.lineTo(x + r, y); g.lineTo(x, y + r); g.lineTo(x - r, y); g.closePath(); g.fill(); g.stroke();
    } else {  // lost target: a cross over the last position
      var k = s * 0.32;
      g.strokeStyle = color; g.lineWidth = Math.max(1.4, s / 8);
      g.moveTo(x - k, y - k); g.lineTo(x + k, y + k); g.moveTo(x + k, y - k); g.lineTo(x - k, y + k); g.stroke();
    }
    return c;
  }

  // projected pixel (at the current zoom) minus this = container point
  function pixelOffset(m) {
    var c = m.getCenter(), p = m.project(c, m.getZoom()), cp = m.latLngToContainerPoint(c);
    return { x: p.x - cp.x, y: p.y - cp.y };
  }

  function destination(lat, lon, bearing, metres) {
    var R = 6371008.8, d = metres / R, b = bearing * Math.PI / 180;
    var p1 = lat * Math.PI / 180, l1 = lon * Math.PI / 180;
    var p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
    var l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
    return L.latLng(p2 * 180 / Math.PI, l2 * 180 / Math.PI);
  }

  var showGraticule = true;
  function drawGraticule(ctx, m, W, H) {
    if (!showGraticule) return;
    var z = m.getZoom(), step = z < 4 ? 10 : z < 6 ? 5 : z < 8 ? 1 : z < 10 ? 0.5 : z < 12 ? 1 / 6 : 1 / 60;
    var b = m.getBounds();
    ctx.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--grid").trim();
    ctx.lineWidth = 1; ctx.beginPath();
    var lat0 = Math.floor(b.getSouth() / step) * step, lon0 = Math.floor(b.getWest() / step) * step;
    for (var lat = lat0; lat <= b.getNorth(); lat += step) {
      var y = m.latLngToContainerPoint([lat, b.getWest()]).y; ctx.moveTo(0, y); ctx.lineTo(W, y);
    }
    for (var lon = lon0; lon <= b.getEast(); lon += step) {
      var x = m.latLngToContainerPoint([b.getCenter().lat, lon]).x; ctx.moveTo(x, 0); ctx.lineTo(x, H);
    }
    ctx.stroke();
  }

  var stats = { drawn: 0, drawMs: 0, draws: 0, loadMs: 0, frames: 0, alertsPushed: 0, beeps: 0, legendUpdates: 0 };
  var layer = new VesselLayer();
  layer.addTo(map);

  // Layer switcher: basemaps and the overlays that can be toggled.
  var graticuleToggle = L.layerGroup();
  graticuleToggle.onAdd = function () { showGraticule = true; layer.redraw(); return this; };
  graticuleToggle.onRemove = function () { showGraticule = false; layer.redraw(); return this; };
  graticuleToggle.addTo(map);
  L.control.layers(basemaps, { "Zones": zoneLayer, "Lanes (TSS, IRTC)": laneLayer,
    "Ports and anchorages": portLayer, "Graticule": graticuleToggle }, { position: "topright", collapsed: true }).addTo(map);
  // Scale bar in nautical miles (and cables below 1 NM), as on a chart.
  var NmScale = L.Control.extend({
    options: { position: "bottomright", maxWidth: 120 },
    onAdd: function (m) {
      this._el = L.DomUtil.create("div", "nm-scale");
      m.on("zoomend moveend", this._update, this);
      this._update();
      return this._el;
    },
    _update: function () {
      var m = this._map, y = m.getSize().y / 2;
      var nmPerPx = m.distance(m.containerPointToLatLng([0, y]), m.containerPointToLatLng([this.options.maxWidth, y])) /
        1852 / this.options.maxWidth;
      var maxNm = nmPerPx * this.options.maxWidth, steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];
      var nm = steps[0];
      steps.forEach(function (s) { if (s <= maxNm) nm = s; });
      this._el.style.width = Math.round(nm / nmPerPx) + "px";
      this._el.textContent = nm < 1 ? Math.round(nm * 10) + " cbl" : nm + " NM";
    }
  });
  new NmScale().addTo(map);

  // Hover and click on vessels.
  var hoverBox = el("div", { id: "vessel-hover", hidden: "" });
  document.getElementById("map-wrap").appendChild(hoverBox);
  map.on("mousemove", function (e) {
    document.getElementById("cursor").textContent = latlonText(e.latlng.lat, L.Util.wrapNum(e.latlng.lng, [-180, 180], true));
    var v = layer.hit(e.containerPoint, 9);
    map.getContainer().style.cursor = v ? "pointer" : "";
    if (!v) { hoverBox.hidden = true; return; }
    hoverBox.hidden = false;
    hoverBox.innerHTML = "<b>" + esc(v.name || "MMSI " + v.mmsi) + "</b> · " + v.mmsi + " · " + num(v.sog, 1, " kn");
    hoverBox.style.left = (e.containerPoint.x + 14) + "px"; hoverBox.style.top = (e.containerPoint.y + 10) + "px";
  });
  map.on("mouseout", function () { hoverBox.hidden = true; });
  map.on("click", function (e) {
    var v = layer.hit(e.containerPoint, 10);
    if (v) selectVessel(v.mmsi, { fly: false });
  });
  map.on("zoomend", function () { document.getElementById("zoom").textContent = "z " + map.getZoom(); });
  document.getElementById("zoom").textContent = "z " + map.getZoom();

  // ------------------------------------------------------------------ legend

  var legendList = document.getElementById("legend-classes");
  CLASSES.forEach(function (c) {
    var li = el("li");
    li.innerHTML = '<label><input type="checkbox" checked data-class="' + c.id + '"><span class="swatch" style="background:' +
      c.color + '"></span>' + esc(c.label) + '<span class="n" data-count="' + c.id + '">0</span></label>';
    legendList.appendChild(li);
  });
  legendList.addEventListener("change", function (e) {
    var id = e.target.getAttribute("data-class");
    if (id) { hidden[id] = !e.target.checked; hiddenIdx[CLASS_INDEX[id]] = hidden[id]; layer.redraw(); }
  });
  // Live frames add vessels and change types many times a second: recount at most once a
  // second (a full pass over the vessels), the first change at once.
  var legendTimer = null, legendAt = 0;
  function scheduleLegendCounts() {
    if (legendTimer) return;
    legendTimer = setTimeout(function () { legendTimer = null; legendCounts(); },
      Math.max(0, legendAt + 1000 - Date.now()));
  }
  function legendCounts() {
    legendAt = Date.now(); stats.legendUpdates++;
    var n = {};
    vessels.forEach(function (v) { var c = classOf(v); n[c] = (n[c] || 0) + 1; });
    CLASSES.forEach(function (c) {
      var e = legendList.querySelector('[data-count="' + c.id + '"]');
      if (e) e.textContent = (n[c.id] || 0).toLocaleString("en");
    });
  }

  // ------------------------------------------------------------------ vessel panel and tracks

  var trackLayer = L.layerGroup().addTo(map);
  var panel = document.getElementById("vessel-panel");
  var trackHours = 24;

  function selectVessel(mmsi, opts) {
    opts = opts || {};
    selected = mmsi;
    var v = vessels.get(mmsi);
    if (opts.fly !== false && v && v.lat != null) map.flyTo([v.lat, v.lon], Math.max(map.getZoom(), 9), { duration: 0.8 });
    layer.redraw();
    panel.hidden = false;
    document.getElementById("vp-title").textContent = (v && v.name) || ("MMSI " + mmsi);
    document.getElementById("vp-body").innerHTML = '<p class="empty">Loading…</p>';
    return api("/api/vessels/" + mmsi).then(function (d) {
      renderPanel(d);
      if (opts.track) return showTrack(mmsi, opts.track);
      return showTrack(mmsi, { hours: trackHours });
    }).catch(function (e) {
      document.getElementById("vp-body").innerHTML = '<p class="empty">' + esc(e.message) + "</p>";
    });
  }

  function renderPanel(d) {
    var p = d.position || {};
    var flag = flagOf(d.mmsi);
    document.getElementById("vp-title").textContent = d.name || ("MMSI " + d.mmsi);
    var size = d.length ? d.length + " × " + (d.beam || "?") + " m" : "—";
    var html = "<h4>Identity</h4><dl>" +
      "<dt>MMSI</dt><dd class=mono>" + d.mmsi + (flag ? ' <span class="badge">' + flag + "</span>" : "") + "</dd>" +
      "<dt>IMO</dt><dd class=mono>" + esc(d.imo || "—") + "</dd>" +
      "<dt>Call sign</dt><dd class=mono>" + esc(d.callsign || "—") + "</dd>" +
      "<dt>Type</dt><dd>" + esc(shipTypeText(d.ship_type)) + "</dd>" +
      "<dt>Size</dt><dd>" + size + "</dd>" +
      "<dt>Draught</dt><dd>" + num(d.draught, 1, " m") + "</dd></dl>" +
      "<h4>Voyage</h4><dl>" +
      "<dt>Status</dt><dd>" + esc(p.nav_status != null ? NAV_STATUS[p.nav_status] || p.nav_status : "—") + "</dd>" +
      "<dt>SOG / COG</dt><dd class=num>" + num(p.sog, 1, " kn") + " / " + num(p.cog, 1, "°") + "</dd>" +
      "<dt>Heading</dt><dd class=num>" + (p.heading != null ? p.heading + "°" : "—") + "</dd>" +
      "<dt>Destination</dt><dd>" + esc(d.destination || "—") + (d.eta ? " · ETA " + esc(d.eta) : "") + "</dd>" +
      "<dt>Position</dt><dd class=num>" + (p.lat != null ? latlonText(p.lat, p.lon) : "—") + "</dd>" +
      '<dt>Last seen</dt><dd class=num id="vp-last-seen" title="' + esc(localTitle(p.time)) + '">' +
        (p.time ? utc(p.time) + " · " + ago(eventNow() - Date.parse(p.time)) : "—") + "</dd>" +
      "<dt>Source</dt><dd>" + esc(p.source || "—") + "</dd></dl>" +
      '<div id="vp-alerts"></div>' +
      '<h4>Track</h4><div class="presets" id="track-presets">' +
      [6, 12, 24, 72, 168].map(function (h) {
        return '<button type="button" data-h="' + h + '"' + (h === trackHours ? ' class="active"' : "") + ">" +
          (h < 48 ? h + " h" : h / 24 + " d") + "</button>";
      }).join("") + '</div><p id="track-info" class="num"></p>';
    document.getElementById("vp-body").innerHTML = html;
    panelAlerts();
    document.getElementById("track-presets").addEventListener("click", function (e) {
      var h = e.target.getAttribute("data-h");
      if (!h) return;
      trackHours = Number(h);
      this.querySelectorAll("button").forEach(function (b) { b.classList.toggle("active", b === e.target); });
      showTrack(d.mmsi, { hours: trackHours });
    });
  }

  // The selected vessel's active alerts, kept current as alerts change.
  function panelAlerts() {
    var box = document.getElementById("vp-alerts");
    if (!box || selected == null) return;
    var n = 0;
    alerts.forEach(function (a) {
      if (!inHistory(a) && !isNotice(a) && (a.mmsi === selected || a.other_mmsi === selected)) n++;
    });
    box.innerHTML = n ? '<h4>Alerts</h4><p><span class="badge alarm">' + n + " active</span></p>" : "";
  }

  // Draw a track; fixes more than 30 min apart are joined by a dashed line (a gap).
  function showTrack(mmsi, opts) {
    var q = opts.start ? "?start=" + encodeURIComponent(opts.start) + "&end=" + encodeURIComponent(opts.end) :
      "?start=" + encodeURIComponent(new Date((vessels.get(mmsi) || {}).ts - opts.hours * 3600e3 || Date.now() - opts.hours * 3600e3).toISOString());
    return api("/api/vessels/" + mmsi + "/track" + q).then(function (f) {
      trackLayer.clearLayers();
      var info = document.getElementById("track-info");
      if (!f.geometry) { if (info) info.textContent = "No track in this period."; return f; }
      var coords = f.geometry.coordinates, times = f.properties.times;
      var color = getComputedStyle(document.documentElement).getPropertyValue("--track").trim();
      var hl = opts.highlight;  // [startMs, endMs] of an alert's evidence
      var solid = [], dashed = [], ev = [], seg = [];
      for (var i = 0; i < coords.length; i++) {
        var ll = [coords[i][1], coords[i][0]];
        if (i > 0 && times[i] - times[i - 1] > 1800) {
          dashed.push([seg[seg.length - 1], ll]); solid.push(seg); seg = [];
        }
        seg.push(ll);
        if (hl && times[i] * 1000 >= hl[0] && times[i] * 1000 <= hl[1]) ev.push(ll);
      }
      solid.push(seg);
      L.polyline(solid, { color: color, weight: 1.6, opacity: 0.85, interactive: false }).addTo(trackLayer);
      if (dashed.length) L.polyline(dashed, { color: color, weight: 1.2, dashArray: "4 5", opacity: 0.7, interactive: false }).addTo(trackLayer);
      if (ev.length > 1) L.polyline(ev, { color: hl[2] || "#ff3b3b", weight: 3.5, opacity: 0.95, interactive: false }).addTo(trackLayer);
      if (opts.fit) {  // frame the evidence (or the whole track)
        var b = L.latLngBounds(ev.length > 1 ? ev : solid.flat());
        // keep it clear of the vessel panel on the right
        if (b.isValid()) map.flyToBounds(b, { paddingTopLeft: [80, 80], maxZoom: 12, duration: 0.8,
          paddingBottomRight: [panel.hidden ? 80 : panel.offsetWidth + 60, 80] });
      }
      L.circleMarker([coords[0][1], coords[0][0]], { radius: 3, color: color, weight: 1, fillOpacity: 1, interactive: false }).addTo(trackLayer);
      if (info) info.textContent = f.properties.points + " fixes · " + utc(times[0] * 1000) + " → " + utc(times[times.length - 1] * 1000);
      return f;
    });
  }

  document.getElementById("vp-close").addEventListener("click", function () {
    panel.hidden = true; selected = null; trackLayer.clearLayers(); layer.redraw();
  });

  // ------------------------------------------------------------------ search

  var searchInput = document.getElementById("search"), results = document.getElementById("search-results");
  var searchTimer = null, searchSeq = 0;
  searchInput.addEventListener("input", function () {
    clearTimeout(searchTimer);
    var q = searchInput.value.trim();
    if (!q) { results.hidden = true; return; }
    searchTimer = setTimeout(function () {
      var seq = ++searchSeq;
      api("/api/search?q=" + encodeURIComponent(q)).then(function (rows) {
        if (seq !== searchSeq) return;
        results.innerHTML = "";
        if (!rows.length) { results.innerHTML = '<li class="empty">No vessel matches “' + esc(q) + "”</li>"; }
        rows.forEach(function (r, i) {
          var cls = CLASS_BY_ID[classOf({ mmsi: r.mmsi, type: r.ship_type })];
          var li = el("li", { "data-mmsi": r.mmsi, role: "option" },
            '<span class="swatch" style="background:' + cls.color + '"></span><b>' + esc(r.name || "—") + "</b> " +
            '<span class="mono">' + r.mmsi + "</span>" + (r.callsign ? " · " + esc(r.callsign) : "") +
            '<span class="sub">' + (r.last_seen ? ago(eventNow() - Date.parse(r.last_seen)) : "") + "</span>");
          if (i === 0) li.classList.add("active");
          results.appendChild(li);
        });
        results.hidden = false;
      }).catch(function () {});
    }, 180);
  });
  searchInput.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { var li = results.querySelector("li.active[data-mmsi]"); if (li) pick(li); }
    if (e.key === "Escape") { results.hidden = true; }
  });
  results.addEventListener("click", function (e) { var li = e.target.closest("li[data-mmsi]"); if (li) pick(li); });
  function pick(li) {
    results.hidden = true;
    selectVessel(Number(li.getAttribute("data-mmsi")), { fly: true });
  }
  document.addEventListener("click", function (e) { if (!e.target.closest(".search")) results.hidden = true; });

  // ------------------------------------------------------------------ alerts

  var alerts = new Map(); // id -> alert (desk alerts and data-quality notices)
  var deskView = "active";
  var showNotices = false; // the "Data quality (N)" toggle
  var alertList = document.getElementById("alerts");
  var selectedAlert = null;

  function prioOf(a) { return SEVERITY_PRIO[a.severity] || "caution"; }
  function isNotice(a) { return a.severity === "info"; }
  // The desk's two views. Active: what still needs the officer, i.e. every open alert
  // (also one whose episode has ended: it must be seen and acknowledged) and acknowledged
  // ones whose condition persists. History: closed alerts, and acknowledged ones whose
  // episode has ended (nothing left to do but close them).
  function inHistory(a) { return a.status === "closed" || (a.status === "acknowledged" && a.end != null); }
  // Red, flashing, the vessel ring, the banner and the sound: only for an unacknowledged
  // alarm whose condition is still there.
  function ringing(a) { return a.status === "open" && a.end == null && prioOf(a) === "alarm" && !isNotice(a); }
  // What fired, in the analytics' own words when it gives them (details.text), else the
  // first few measured values.
  function criteria(a) {
    var d = a.details || {};
    if (typeof d.text === "string" && d.text) return d.text;
    var parts = [];
    Object.keys(d).forEach(function (k) {
      var v = d[k];
      if (parts.length >= 4 || v == null || typeof v === "object") return;
      if (typeof v === "number") v = Math.round(v * 100) / 100;
      parts.push(k.replace(/_/g, " ") + " " + v);
    });
    return parts.join(" · ");
  }
  function alertVesselName(a) {
    var v = vessels.get(a.mmsi);
    return a.vessel_name || (v && v.name) || null;
  }
  function loadAlerts() {
    var st = deskView === "active" ? "open,acknowledged" : "closed,acknowledged";
    // The desk's alerts (the API leaves notices out by default), and the notices of the
    // last 24 h apart, for the "Data quality (N)" toggle.
    return Promise.all([api("/api/alerts?status=" + st + "&limit=500"),
                        api("/api/alerts?severity=info&status=" + st + "&since=-24h&limit=500")])
      .then(function (bodies) {
        if (deskView === "active") {
          alerts.forEach(function (a, id) { if (a.status !== "closed") alerts.delete(id); });
        }
        bodies.forEach(function (body) { body.alerts.forEach(function (a) { alerts.set(a.id, a); }); });
        renderAlerts(); updateAlarmState();
        if (showNotices) loadDataQuality();
      });
  }
  function renderAlerts() {
    var list = [], notices = 0;
    alerts.forEach(function (a) {
      if (deskView === "active" ? inHistory(a) : !inHistory(a)) return;
      if (isNotice(a)) { notices++; if (!showNotices) return; }
      list.push(a);
    });
    document.getElementById("dq-count").textContent = notices;
    list.sort(function (x, y) { return Date.parse(y.start) - Date.parse(x.start) || y.id - x.id; });
    alertList.innerHTML = "";
    var now = eventNow(), wall = Date.now();
    list.forEach(function (a) {
      var prio = prioOf(a);
      var li = el("li", { "class": "alert " + prio + " " + a.status + (a.end != null ? " ended" : "") +
        (ringing(a) ? " flash" : "") + (a.id === selectedAlert ? " selected" : ""), "data-id": a.id });
      var name = alertVesselName(a), flag = a.mmsi ? flagOf(a.mmsi) : "";
      var state = [], notice = isNotice(a);
      // A notice is a fact about the data, mostly of one instant: no "ended" unless it
      // lasted, and never "not acknowledged" (nobody needs to).
      if (a.end != null && !(notice && a.end === a.start)) {
        state.push('<span class="ended-at" title="' + esc(utc(a.end) + " · " + ago(now - Date.parse(a.end)) + " · " +
          localTitle(a.end)) + '">ended ' + hhmm(a.end) + "</span>");
      }
      if (a.status === "acknowledged") state.push("Acknowledged by " + esc(a.acknowledged_by) + " · " + ago(wall - Date.parse(a.acknowledged_at)));
      else if (a.status === "closed") {
        state.push("Closed by " + esc(a.closed_by) + (a.outcome ? ' · <span class="outcome ' + esc(a.outcome) + '">' +
          esc(OUTCOME_TEXT[a.outcome] || a.outcome) + "</span>" : "") + (a.note ? ": “" + esc(a.note) + "”" : ""));
      }
      else if (a.end != null && !notice) state.push("not acknowledged");
      var stateLine = state.join(" · ");
      li.innerHTML =
        '<div class="row1"><span class="prio">' + PRIO_LABEL[prio] + '</span><span class="kind">' +
        esc(KIND_TEXT[a.kind] || a.kind) + '</span><span class="when" title="' + esc(utc(a.start) + " · " + localTitle(a.start)) + '">' +
        ago(now - Date.parse(a.start)) + "</span></div>" +
        '<div class="vessel">' + (name ? "<b>" + esc(name) + "</b> · " : "") + (a.mmsi ? '<span class="mono">' + a.mmsi + "</span>" : "") +
        (flag ? '<span class="flag">' + flag + "</span>" : "") + (a.other_mmsi ? " ⇄ " + a.other_mmsi : "") +
        (a.zone ? " · " + esc(a.zone) : "") + "</div>" +
        (criteria(a) ? '<div class="criteria">' + esc(criteria(a)) + "</div>" : "") +
        (isNotice(a) && a.details && a.details.source ? '<div class="source">from ' + esc(a.details.source) + "</div>" : "") +
        (stateLine ? '<div class="state">' + stateLine + "</div>" : "") +
        (a.status !== "closed" && CONFIG.can_acknowledge ? '<div class="actions">' +
          (a.status === "open" && !isNotice(a) ? '<button type="button" class="ack" data-act="ack">Acknowledge</button>' : "") +
          '<button type="button" data-act="close">Close…</button><button type="button" data-act="show">Show</button></div>' :
          '<div class="actions"><button type="button" data-act="show">Show</button></div>');
      alertList.appendChild(li);
    });
    document.getElementById("alerts-empty").hidden = list.length > 0;
    document.getElementById("alerts-empty").textContent = deskView === "active" ? "No active alerts." :
      "Nothing in history (closed, or ended and acknowledged).";
    var active = 0; alerts.forEach(function (a) { if (!inHistory(a) && !isNotice(a)) active++; });
    document.getElementById("alert-count").textContent = active;
    panelAlerts();
  }
  alertList.addEventListener("click", function (e) {
    var li = e.target.closest(".alert"); if (!li) return;
    var a = alerts.get(Number(li.getAttribute("data-id"))); if (!a) return;
    var act = e.target.getAttribute("data-act");
    unlockAudio();
    if (act === "ack") { e.stopPropagation(); acknowledge(a, null); return; }
    if (act === "close") { e.stopPropagation(); askNote(a); return; }
    showAlert(a);
  });
  // Data quality: the notices (never ringing) in the desk's list on request, and above it
  // their count by source and kind over the last 24 h (GET /api/data-quality).
  var dqToggle = document.getElementById("dq-toggle"), dqPanel = document.getElementById("dq-panel");
  dqToggle.addEventListener("click", function () {
    showNotices = !showNotices;
    dqToggle.setAttribute("aria-pressed", String(showNotices));
    dqPanel.hidden = !showNotices;
    if (showNotices) loadDataQuality();
    renderAlerts();
  });
  var dqTimer = null;
  function scheduleDataQuality() {  // a live notice: recount, at most every 2 s
    if (!showNotices || dqTimer) return;
    dqTimer = setTimeout(function () { dqTimer = null; loadDataQuality(); }, 2000);
  }
  function loadDataQuality() {
    return api("/api/data-quality?since=-24h&examples=1").then(function (dq) {
      var body = dqPanel.querySelector("tbody"), n = 0;
      body.innerHTML = "";
      dq.sources.forEach(function (src) {
        src.kinds.forEach(function (k, i) {
          var ex = k.examples[0];
          var tr = el("tr", ex ? { "data-id": ex.id, title: "Show the latest: " + (ex.text || "") } : null,
            (i === 0 ? '<th rowspan="' + src.kinds.length + '">' + esc(src.source) + "</th>" : "") +
            "<td>" + esc(KIND_TEXT[k.kind] || k.kind) + '</td><td class="num">' + k.count + "</td>" +
            '<td class="num" title="' + esc(utc(k.latest)) + '">' + ago(eventNow() - Date.parse(k.latest)) + "</td>");
          body.appendChild(tr);
        });
        n++;
      });
      var total = document.getElementById("dq-total");
      total.textContent = dq.total ?
        dq.total + " notice" + (dq.total > 1 ? "s" : "") + " from " + n + " source" + (n > 1 ? "s" : "") :
        "No data-quality notices.";
      total.title = "Notices that started since " + utc(dq.since) + " (event time)";
    }).catch(function (e) { document.getElementById("dq-total").textContent = "Data quality: " + e.message; });
  }
  dqPanel.addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-id]"); if (!tr) return;
    var id = Number(tr.getAttribute("data-id"));
    (alerts.get(id) ? Promise.resolve(alerts.get(id)) : api("/api/alerts/" + id)).then(showAlert)
      .catch(function (err) { toast("Notice: " + err.message); });
  });

  document.querySelector("#desk .tabs").addEventListener("click", function (e) {
    var v = e.target.getAttribute("data-view"); if (!v) return;
    deskView = v;
    this.querySelectorAll("button").forEach(function (b) { b.classList.toggle("active", b === e.target); });
    loadAlerts();
  });

  function showAlert(a) {
    selectedAlert = a.id; renderAlerts();
    var start = Date.parse(a.start), end = a.end ? Date.parse(a.end) : Math.max(dataClock, start);
    var pad_ = Math.max(30 * 60e3, (end - start) * 0.25);
    var where = a.lat != null ? [a.lat, a.lon] : null;
    if (!where && vessels.get(a.mmsi)) where = [vessels.get(a.mmsi).lat, vessels.get(a.mmsi).lon];
    if (where) map.flyTo(where, Math.max(map.getZoom(), 10), { duration: 0.8 });
    if (a.mmsi) {
      var color = getComputedStyle(document.documentElement).getPropertyValue(
        prioOf(a) === "alarm" ? "--alarm" : isNotice(a) ? "--notice" : "--warning").trim();
      selectVessel(a.mmsi, { fly: false, track: { start: new Date(start - pad_).toISOString(),
        end: new Date(end + pad_).toISOString(), highlight: [start, end, color], fit: true } });
    }
  }

  function acknowledge(a, note) {
    return api("/api/alerts/" + a.id + "/ack", { method: "POST", body: { note: note } })
      .then(function (updated) { mergeAlert(updated); })
      .catch(function (e) { toast("Acknowledge failed: " + e.message); });
  }
  // Closing asks what the officer found (the outcome: how each rule's false alarms are
  // counted) and a note. The choice is required for a desk alert (the form will not submit
  // without it; the API refuses too), optional for a data-quality notice.
  var dialog = document.getElementById("note-dialog"), noteTarget = null;
  var outcomeInputs = dialog.querySelectorAll('input[name="outcome"]');
  var outcomeHint = document.getElementById("outcome-hint");
  function askNote(a) {
    noteTarget = a;
    var notice = isNotice(a);
    document.getElementById("note-title").textContent = (notice ? "Close notice: " : "Close: ") +
      (KIND_TEXT[a.kind] || a.kind) + " · " + (alertVesselName(a) || a.mmsi || "");
    outcomeInputs.forEach(function (i) { i.checked = false; i.required = !notice; });
    document.getElementById("outcome-need").textContent = notice ? "(optional for a notice)" : "(required)";
    outcomeHint.hidden = true;
    document.getElementById("note-text").value = "";
    dialog.showModal();
  }
  // The browser refuses to submit without a choice; say why beside the choices as well.
  outcomeInputs.forEach(function (i) {
    i.addEventListener("invalid", function () { outcomeHint.hidden = false; });
    i.addEventListener("change", function () { outcomeHint.hidden = true; });
  });
  dialog.addEventListener("close", function () {
    if (dialog.returnValue !== "ok" || !noteTarget) return;
    var a = noteTarget; noteTarget = null;
    var chosen = dialog.querySelector('input[name="outcome"]:checked');
    api("/api/alerts/" + a.id + "/close", { method: "POST", body: {
      note: document.getElementById("note-text").value, outcome: chosen ? chosen.value : null } })
      .then(function (updated) { mergeAlert(updated); })
      .catch(function (e) { toast("Close failed: " + e.message); });
  });

  function mergeAlert(a, change) {
    var old = alerts.get(a.id);
    if (old && Date.parse(old.updated_at) > Date.parse(a.updated_at)) return;  // older news
    if (old && !a.vessel_name) a.vessel_name = old.vessel_name;
    var isNew = !old;
    alerts.set(a.id, a);
    renderAlerts(); updateAlarmState();
    if (isNotice(a)) { scheduleDataQuality(); return; }  // a notice never sounds
    // A new alarm sounds, and so does one whose situation came back (reopened).
    if (((isNew && change === "opened") || change === "reopened") && ringing(a)) beepNow();
  }

  // Vessels in alarm get a ring on the map; the header shows a banner while alarms are open.
  // An alert whose episode has ended rings nothing: it waits, calm, on the desk.
  function updateAlarmState() {
    alarmVessels.clear();
    var open = 0, acked = 0;
    alerts.forEach(function (a) {
      if (a.status === "closed" || a.end != null || !a.mmsi || isNotice(a)) return;  // notices never ring
      var prio = prioOf(a);
      var st = prio === "alarm" ? (a.status === "open" ? "alarm-open" : "alarm") : "warning";
      var cur = alarmVessels.get(a.mmsi);
      if (!cur || st === "alarm-open" || (st === "alarm" && cur === "warning")) alarmVessels.set(a.mmsi, st);
      if (prio === "alarm") { if (a.status === "open") open++; else acked++; }
    });
    var banner = document.getElementById("alarm-banner");
    if (open) { banner.hidden = false; banner.className = "flash"; banner.textContent = "⚠ " + open + " ALARM" + (open > 1 ? "S" : "") + " UNACKNOWLEDGED"; }
    else if (acked) { banner.hidden = false; banner.className = "steady"; banner.textContent = acked + " alarm" + (acked > 1 ? "s" : "") + " acknowledged"; }
    else banner.hidden = true;
    layer.redraw();
  }
  document.getElementById("alarm-banner").addEventListener("click", function () {
    var first = null;
    alerts.forEach(function (a) { if (ringing(a) && (!first || a.start > first.start)) first = a; });
    if (first) showAlert(first);
  });

  function toast(msg) { console.warn(msg); var b = document.getElementById("alerts-empty"); b.hidden = false; b.textContent = msg; }

  // ------------------------------------------------------------------ sound

  var audio = null, mutedUntil = 0, lastBeep = 0;
  function unlockAudio() {
    if (audio) { if (audio.state === "suspended") audio.resume(); return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) { try { audio = new Ctx(); } catch (e) { audio = null; } }
  }
  document.addEventListener("pointerdown", unlockAudio, { once: false, passive: true });
  document.addEventListener("keydown", unlockAudio, { passive: true });
  function beepNow() {
    if (Date.now() < mutedUntil) return;
    lastBeep = Date.now(); stats.beeps = (stats.beeps || 0) + 1;
    if (!audio || audio.state !== "running") return;
    var t = audio.currentTime;
    [0, 0.22, 0.44].forEach(function (dt) {   // three short 880 Hz pips: an alarm, not music
      var o = audio.createOscillator(), g = audio.createGain();
      o.type = "square"; o.frequency.value = 880;
      g.gain.setValueAtTime(0.0001, t + dt); g.gain.exponentialRampToValueAtTime(0.18, t + dt + 0.01);
      g.gain.exponentialRampToValueAtTime(0.0001, t + dt + 0.16);
      o.connect(g).connect(audio.destination); o.start(t + dt); o.stop(t + dt + 0.18);
    });
  }
  var silenceBtn = document.getElementById("silence");
  silenceBtn.addEventListener("click", function () {
    mutedUntil = Date.now() + 30e3; updateSilence();
  });
  function updateSilence() {
    var left = Math.ceil((mutedUntil - Date.now()) / 1000);
    silenceBtn.classList.toggle("muted", left > 0);
    silenceBtn.querySelector(".label").textContent = left > 0 ? "Silenced " + left + " s" : "Sound on";
  }

  // ------------------------------------------------------------------ feeds, clock

  var feeds = [], feedsAt = 0;
  function renderFeeds() {
    var box = document.getElementById("feeds");
    var since = (Date.now() - feedsAt) / 1000;
    if (!feeds.length) { box.innerHTML = '<span class="feed none" title="no feed is configured in this process">no live feed</span>'; return; }
    box.innerHTML = "";
    feeds.forEach(function (f) {
      var a = f.last_message_age_s == null ? null : f.last_message_age_s + (f.state === "running" || f.state === "quiet" ? since : 0);
      var cls = f.state === "failed" || a == null || a > 900 ? "dead" : a > 120 || f.state === "quiet" ? "quiet" : "";
      var last = f.last_event_ts != null ? " · last event " + utc(f.last_event_ts * 1000) + " (" + ago(eventNow() - f.last_event_ts * 1000) + ")" : "";
      var e = el("span", { "class": "feed " + cls, title: (f.uri ? f.name + " · " + f.state + (f.error ? " · " + f.error : "") : f.name) + last },
        '<span class="dot"></span>' + esc(f.name) + ' <span class="age">' + age(a) + "</span>");
      box.appendChild(e);
    });
  }
  // The data time, shown only when it runs ahead of the wall clock by more than a minute
  // (a scenario or replay faster than real time), so relative ages are not misread.
  var dataClockBox = document.getElementById("data-clock");
  function renderDataClock() {
    var ahead = dataClock - Date.now() > 60e3;
    dataClockBox.hidden = !ahead;
    if (!ahead) return;
    dataClockBox.textContent = "data time " + hhmm(dataClock) + " (ahead of clock)";
    dataClockBox.title = "Newest fix " + utc(dataClock) + ", " + Math.round((dataClock - Date.now()) / 60e3) +
      " min ahead of this computer's clock: ages of fixes and alerts are measured from it.";
  }
  function updateClock() {
    var d = new Date();
    document.getElementById("clock").textContent = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }
  function tick() {
    updateClock();
    renderFeeds(); updateSilence(); renderDataClock();
    var anyOpen = false;
    alerts.forEach(function (a) { if (ringing(a)) anyOpen = true; });
    if (anyOpen && Date.now() - lastBeep > 5000) beepNow();  // repeats until acknowledged, unless silenced
    if (anyOpen) layer.redraw();  // flashing rings
  }
  setInterval(tick, 1000);
  updateClock();  // at once, not a second after the page opens
  setInterval(function () { if (deskView === "active") renderAlerts(); }, 20000);  // relative times

  // ------------------------------------------------------------------ theme

  var THEMES = ["night", "dusk", "day"];
  function applyTheme(t) {
    document.documentElement.setAttribute("data-theme", t);
    document.querySelector("#theme .label").textContent = t[0].toUpperCase() + t.slice(1);
    try { localStorage.setItem("mda-theme", t); } catch (e) { /* private mode */ }
    [land.overview, land.detail].forEach(function (l) { if (l) l.setStyle(landStyle); });
    zoneLayer.eachLayer(function (g) { if (g.setStyle) g.setStyle(zoneStyle(g.feature)); });
    laneLayer.eachLayer(function (g) { if (g.setStyle) g.setStyle(zoneStyle(g.feature)); });
    layer.redraw();
  }
  document.getElementById("theme").addEventListener("click", function () {
    var cur = document.documentElement.getAttribute("data-theme");
    applyTheme(THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length]);
  });
  try { var saved = localStorage.getItem("mda-theme"); if (saved && THEMES.indexOf(saved) >= 0) applyTheme(saved); } catch (e) { /* */ }

  // ------------------------------------------------------------------ live

  var ws = null, wsBackoff = 1000, liveState = "connecting";
  function setLive(state) {
    liveState = state;
    var e = document.getElementById("live-state");
    e.className = state === "live" ? "ok" : "bad";
    e.textContent = state === "live" ? "● LIVE" : "● " + state;
  }
  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/api/live");
    ws.onopen = function () { wsBackoff = 1000; setLive("live"); };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.type === "positions") {
        stats.frames++;
        var known = vessels.size, retyped = false;
        msg.vessels.forEach(function (r) { upsertVessel(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] * 1000); });
        Object.keys(msg.statics || {}).forEach(function (k) {
          var v = vessels.get(Number(k)), s = msg.statics[k];
          if (!v) return;
          if (s.name != null) v.name = s.name; if (s.callsign != null) v.callsign = s.callsign;
          if (s.ship_type != null && s.ship_type !== v.type) { v.type = s.ship_type; retyped = true; }
        });
        if (vessels.size !== known || retyped) scheduleLegendCounts();
        renderDataClock();
        layer.redraw();
      } else if (msg.type === "alert") {
        stats.alertsPushed++;
        mergeAlert(msg.alert, msg.change);
      } else if (msg.type === "status" || msg.type === "hello") {
        feeds = msg.feeds || []; feedsAt = Date.now(); renderFeeds();
      } else if (msg.type === "resync") {
        loadVessels(); loadAlerts();
      }
    };
    ws.onclose = function (ev) {
      if (ev && ev.code === 4401) {  // the login ended (logout, disabled, token revoked)
        setLive("logged out");
        location.href = "/login?next=" + encodeURIComponent(location.pathname);
        return;
      }
      setLive("reconnecting");
      setTimeout(function () { loadAlerts().catch(function () {}); connect(); }, wsBackoff);
      wsBackoff = Math.min(wsBackoff * 2, 30000) * (0.75 + Math.random() * 0.5);
    };
  }
  setInterval(function () { if (ws && ws.readyState === 1) ws.send("ping"); }, 25000);

  // ------------------------------------------------------------------ start

  var ready = Promise.all([landReady, loadZones(), loadVessels(), loadAlerts()]).then(function () {
    connect();
    window.mdaMap.ready = true;
    document.documentElement.setAttribute("data-ready", "1");
  });

  // Hooks for tests and scripting.
  window.mdaMap = {
    map: map,
    ready: false,
    whenReady: function () { return ready; },
    vesselCount: function () { return stats.drawn; },
    totalVessels: function () { return vessels.size; },
    vesselPosition: function (mmsi) { var v = vessels.get(mmsi); return v ? { lat: v.lat, lon: v.lon, ts: v.ts } : null; },
    selectVessel: function (mmsi) { return selectVessel(mmsi, { fly: true }); },
    alerts: function () { return Array.from(alerts.values()); },
    showingNotices: function () { return showNotices; },
    alarmRings: function () { var o = {}; alarmVessels.forEach(function (st, m) { o[m] = st; }); return o; },
    dataClock: function () { return dataClock; },
    redraw: function () { layer.redraw(); },
    reload: function () { return loadVessels(); },
    stats: function () { return Object.assign({ live: liveState }, stats); },
    drawNow: function () { layer._draw(); return stats.drawMs; }
  };
})();
