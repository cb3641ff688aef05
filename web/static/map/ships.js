/* Reference data about ships: the colour classes by AIS ship type, type and navigational
 * status texts, and the flag from the MMSI. No DOM, no state. */

// ux.md: colours by AIS ship type (the MarineTraffic family), in legend order.
export const CLASSES = [
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
export const CLASS_BY_ID = Object.fromEntries(CLASSES.map((c) => [c.id, c]));
// The draw loop keys classes by index (an array lookup per vessel, not a string key).
export const CLASS_INDEX = Object.fromEntries(CLASSES.map((c, i) => [c.id, i]));

/** The colour class of {mmsi, type}: aids to navigation and base stations by their MMSI,
 *  ships by their AIS type. */
export function classOf(v) {
  const m = v.mmsi;
  if ((m >= 990000000 && m <= 999999999) || (m >= 1000000 && m <= 9999999)) return "nav";
  const t = v.type;
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

/** AIS-SART, MOB and EPIRB-AIS: drawn in their own red whatever their type. */
export function isBeacon(mmsi) {
  const prefix = Math.floor(mmsi / 1000000);
  return prefix === 970 || prefix === 972 || prefix === 974;
}

const SHIP_TYPE_TEXT = { 30: "Fishing", 31: "Towing", 32: "Towing (large)", 33: "Dredging", 34: "Diving ops",
  35: "Military ops", 36: "Sailing", 37: "Pleasure craft", 50: "Pilot vessel", 51: "Search and rescue",
  52: "Tug", 53: "Port tender", 54: "Anti-pollution", 55: "Law enforcement", 58: "Medical transport",
  59: "Non-combatant" };

/** "Tug (52)", "Cargo (70)", "unknown". */
export function shipTypeText(t) {
  if (t == null) return "unknown";
  if (SHIP_TYPE_TEXT[t]) return SHIP_TYPE_TEXT[t] + " (" + t + ")";
  const c = CLASS_BY_ID[classOf({ mmsi: 200000000, type: t })];
  return (c.id === "unknown" ? "Other" : c.label) + " (" + t + ")";
}

const NAV_STATUS = ["Under way using engine", "At anchor", "Not under command", "Restricted manoeuvrability",
  "Constrained by draught", "Moored", "Aground", "Engaged in fishing", "Under way sailing",
  "Reserved (HSC)", "Reserved (WIG)", "Power-driven towing astern", "Power-driven pushing/towing",
  "Reserved", "AIS-SART / MOB / EPIRB active", "Not defined"];

/** The navigational status in words; the code itself when it has none. */
export function navStatusText(code) { return NAV_STATUS[code] || code; }

// Maritime Identification Digits -> ISO 3166 alpha-2, for the flags of the region and the
// main open registries (ITU MID table).
const MID = Object.fromEntries((
  "201AL 203AT 205BE 209CY 210CY 211DE 212CY 215MT 218DE 219DK 220DK 224ES 225ES 226FR 227FR 228FR " +
  "229MT 230FI 232GB 233GB 234GB 235GB 236GI 237GR 238HR 239GR 240GR 241GR 244NL 245NL 246NL 247IT 248MT " +
  "249MT 250IE 255PT 256MT 257NO 258NO 259NO 261PL 265SE 266SE 271TR 273RU 304AG 305AG 308BS 309BS 311BS " +
  "312BZ 314BB 316CA 338US 339JM 341KN 352PA 351PA 353PA 354PA 355PA 356PA 357PA 366US 367US 368US 369US " +
  "370PA 371PA 372PA 373PA 374PA 375VC 376VC 377VC 403SA 405BD 408BH 412CN 413CN 414CN 416TW 417LK 419IN " +
  "422IR 425IQ 431JP 432JP 440KR 441KR 447KW 455MV 457MN 461OM 463PK 466QA 470AE 471AE 473YE 475YE 477HK " +
  "503AU 506MM 511PW 518CK 525ID 533MY 538MH 548PH 563SG 564SG 565SG 566SG 567TH 572TV 574VN 576VU 577VU " +
  "601ZA 613CM 616KM 619CI 620KM 621DJ 622EG 624ET 625ER 626GA 627GH 630GW 632GN 634KE 636LR 637LR 645MU " +
  "647MG 649ML 650MZ 654MR 655MW 657NG 659NA 661RW 662SD 664SC 666SO 667SL 668ST 669SZ 670TD 671TG 672TN " +
  "674TZ 677TZ 678UG 679ZA").split(" ").map((s) => [s.slice(0, 3), s.slice(3)]));

/** The flag (ISO 3166 alpha-2) from an MMSI's MID, also for coast stations, SAR aircraft
 *  and beacons, whose MID sits further in; "" when unknown. */
export function flagOf(mmsi) {
  const s = String(mmsi);
  if (s.length !== 9) return "";
  let mid = s[0] === "0" || s[0] === "1" || s[0] === "9" ? s.slice(2, 5) : s.slice(0, 3);
  if (s.startsWith("111") || s.startsWith("970") || s.startsWith("972") || s.startsWith("974")) mid = s.slice(3, 6);
  return MID[mid] || "";
}

/** AIS reports the ETA as "MM-DD HH:MM" in UTC, without a year: the year is the one that
 *  puts it nearest after the report (an ETA up to a month past is late, not next year).
 *  "2026-05-12 14:00Z"; the text as reported when it does not parse. */
export function etaText(eta, reportTime) {
  const m = /^(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2})$/.exec(String(eta).trim());
  if (!m) return String(eta);
  const [mo, d, h, mi] = m.slice(1).map(Number);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59) return String(eta) + " (not a valid ETA)";
  const ref = reportTime ? new Date(reportTime) : new Date();
  let y = ref.getUTCFullYear();
  if (Date.UTC(y, mo - 1, d, h, mi) < ref.getTime() - 31 * 86400e3) y += 1;
  const p = (n) => String(n).padStart(2, "0");
  return y + "-" + p(mo) + "-" + p(d) + " " + p(h) + ":" + p(mi) + "Z";
}
