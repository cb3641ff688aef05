/* Text for the watch officer: positions in degrees and minutes, times in UTC, ages and
 * durations, numbers with units, HTML-escaped strings. No DOM, no state. */

function pad(n, width = 2) { return String(n).padStart(width, "0"); }

function asDate(t) { return t instanceof Date ? t : new Date(t); }

/** "12:34:56" of a Date, in UTC. */
export function hhmmss(d) {
  return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
}

/** Date | ms | ISO text -> "2024-05-01 12:34:56Z"; "—" when it is no time. */
export function utc(t) {
  const d = asDate(t);
  if (isNaN(d)) return "—";
  return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " + hhmmss(d) + "Z";
}

/** Date | ms | ISO text -> "12:34Z". */
export function hhmm(t) {
  const d = asDate(t);
  return isNaN(d) ? "—" : pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + "Z";
}

/** For a title attribute: UTC on screen, the officer's local time on hover (ux.md). */
export function localTitle(t) {
  const d = new Date(t);
  return isNaN(d) ? "" : "local: " + d.toString();
}

/** A relative time for the desk: "45 s ago", "12 min ago", "3 h 05 min ago", "4 d ago". */
export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + " s ago";
  const m = Math.round(s / 60);
  if (m < 60) return m + " min ago";
  const h = Math.floor(m / 60);
  if (h < 48) return h + " h " + pad(m % 60) + " min ago";
  return Math.floor(h / 24) + " d ago";
}

/** A duration in seconds, short: "42 s", "7 min", "2.5 h"; "no data" for none. */
export function age(s) {
  if (s == null) return "no data";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

// Degrees and decimal minutes as on a chart: 08°05.123′N. Minutes that round to 60 carry
// into the degrees, so no position reads 59.9995 -> "60.000′".
function degreesMinutes(v, pos, neg, degWidth) {
  const hemisphere = v >= 0 ? pos : neg;
  v = Math.abs(v);
  let d = Math.floor(v), m = (v - d) * 60;
  if (m >= 59.9995) { d += 1; m = 0; }
  return pad(d, degWidth) + "°" + (m < 10 ? "0" : "") + m.toFixed(3) + "′" + hemisphere;
}

/** "08°05.123′N 072°30.000′E". */
export function latlonText(lat, lon) {
  return degreesMinutes(lat, "N", "S", 2) + " " + degreesMinutes(lon, "E", "W", 3);
}

/** A number with fixed digits and a unit, "—" when unknown: num(12.34, 1, " kn") -> "12.3 kn". */
export function num(v, digits, unit) { return v == null ? "—" : Number(v).toFixed(digits) + (unit || ""); }

const HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for innerHTML (names, notes and details come from the air and from users). */
export function esc(s) {
  return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}
