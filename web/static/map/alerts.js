/* What an alert means on this console: its bridge priority, which desk view it belongs
 * to, whether it rings, what fired, and the words for its kind and outcome. No DOM. */

import { config } from "./config.js";
import { store } from "./store.js";

// Severities onto bridge alert priorities (ux.md, IMO MSC.302(87)). info is a data-quality
// notice, not a bridge priority: it never rings, and stays off the desk unless the officer
// asks for it ("Data quality (N)").
const SEVERITY_PRIORITY = { critical: "alarm", high: "alarm", medium: "warning", low: "caution", info: "notice" };
export const PRIORITY_LABEL = { alarm: "ALARM", warning: "WARNING", caution: "CAUTION", notice: "NOTICE" };
// Severities as the desk ranks them (critical first); a critical alarm reads CRITICAL.
export const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
// What the officer found when closing (store.alerts.OUTCOMES on the server).
export const OUTCOME_TEXT = { false_alarm: "False alarm", confirmed: "Confirmed", no_action: "No action" };

// The one table of alert kinds comes from the server (the page's config.kinds:
// [{"kind", "label", "severity"}, ...]), so the console, the reports and the API say the
// same. A kind the table lacks (or a page rendered without it) reads as its own name.
const KIND_LABELS = new Map((Array.isArray(config.kinds) ? config.kinds : [])
  .filter((k) => k && k.kind && k.label).map((k) => [k.kind, k.label]));

/** "Loitering", "AIS gap", ...: the kind's label. */
export function kindLabel(kind) {
  if (KIND_LABELS.has(kind)) return KIND_LABELS.get(kind);
  const words = String(kind == null ? "" : kind).replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** "alarm", "warning", "caution" or "notice". */
export function priorityOf(a) { return SEVERITY_PRIORITY[a.severity] || "caution"; }

/** A data-quality notice: a fact about the data, not a situation at sea. */
export function isNotice(a) { return a.severity === "info"; }

/** The desk's two views. Active: what still needs the officer, i.e. every open alert (also
 *  one whose episode has ended: it must be seen and acknowledged) and acknowledged ones
 *  whose condition persists. History: closed alerts, and acknowledged ones whose episode
 *  has ended (nothing left to do but close them). */
export function inHistory(a) {
  if (a.status === "closed") return true;
  // A distress beacon that fell silent stays on the desk, flagged "silent since", until an
  // officer closes it: people may still be in the water.
  if (isDistress(a)) return false;
  return a.status === "acknowledged" && a.end != null;
}

/** A distress beacon (AIS-SART, MOB, EPIRB): pinned at the top of the desk. */
export function isDistress(a) { return a.kind === "distress_beacon"; }

/** The label of an alert's priority: CRITICAL for a critical alarm, else its bridge priority. */
export function priorityLabel(a) {
  return a.severity === "critical" ? "CRITICAL" : PRIORITY_LABEL[priorityOf(a)];
}

/** The desk's order, by what needs action: distress beacons not closed pinned first, then
 *  unacknowledged alarms still going on, then other unacknowledged alerts, then the
 *  acknowledged; within each, by severity, then by arrival on the desk (newest first). */
export function deskRank(a) {
  if (isDistress(a) && a.status !== "closed") return a.status === "open" ? 0 : 1;
  if (ringing(a)) return 2;
  if (a.status === "open" && a.end == null) return 3;
  if (a.status === "open") return 4;
  return 5;
}

export function compareDesk(x, y) {
  return deskRank(x) - deskRank(y) || (SEVERITY_RANK[x.severity] - SEVERITY_RANK[y.severity]) ||
    arrival(y) - arrival(x) || y.id - x.id;
}

/** When the alert arrived on the desk (created, or reopened since): not when its episode
 *  began, so one that fired late is not buried under older ones. */
export function arrival(a) { return Date.parse(a.created_at || a.start) || 0; }

/** A partner's alert, received on its feed (details.origin: {partner, country, ...}):
 *  read-only here, only the partner acknowledges it. */
export function isPartnerAlert(a) { return !!(a && a.details && a.details.origin); }

/** Red, flashing, the vessel ring, the banner and the sound: only for an unacknowledged
 *  alarm of ours whose condition is still there. A partner's alarm cannot be acknowledged
 *  here, so it never rings (it would ring for ever): it has its own marker on the map. */
export function ringing(a) {
  return a.status === "open" && a.end == null && priorityOf(a) === "alarm" && !isNotice(a) && !isPartnerAlert(a);
}

/** What fired, in the analytics' own words when it gives them (details.text), else the
 *  first few measured values. */
export function criteria(a) {
  const d = a.details || {};
  if (typeof d.text === "string" && d.text) return d.text;
  const parts = [];
  Object.keys(d).forEach((k) => {
    let v = d[k];
    if (parts.length >= 4 || v == null || typeof v === "object") return;
    if (typeof v === "number") v = Math.round(v * 100) / 100;
    parts.push(k.replace(/_/g, " ") + " " + v);
  });
  return parts.join(" · ");
}

/** The vessel's name: as the alert carries it, else as the map knows it; null if neither. */
export function alertVesselName(a) {
  const v = store.vessels.get(a.mmsi);
  return a.vessel_name || (v && v.name) || null;
}
