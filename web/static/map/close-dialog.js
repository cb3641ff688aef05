/* Closing alerts asks what the officer found (the outcome: how each rule's false alarms
 * are counted) and why (the note). Both are required for a desk alert (the form will not
 * submit without them; the API refuses too), optional for a data-quality notice. Several
 * ended alerts close at once with one outcome and one note (POST /api/alerts/bulk). */

import { api } from "./api.js";
import { alertVesselName, isNotice, kindLabel } from "./alerts.js";
import { byId } from "./dom.js";

/** Returns {ask(alert), askMany(alerts)}; onClosed(updatedAlerts) once the server has
 *  closed them, onError(text). */
export function mountCloseDialog({ onClosed, onError }) {
  const dialog = byId("note-dialog");
  const outcomes = dialog.querySelectorAll('input[name="outcome"]');
  const hint = byId("outcome-hint"), note = byId("note-text");
  let targets = null;

  function ask(a) { open([a]); }
  function askMany(list) { open(list); }
  function open(list) {
    targets = list;
    const notice = list.every(isNotice), a = list[0];
    byId("note-title").textContent = list.length > 1 ? "Close " + list.length + " ended alerts" :
      (notice ? "Close notice: " : "Close: ") + kindLabel(a.kind) + " · " + (alertVesselName(a) || a.mmsi || "");
    outcomes.forEach((i) => { i.checked = false; i.required = !notice; });
    byId("outcome-need").textContent = notice ? "(optional for a notice)" : "(required)";
    note.required = !notice;
    byId("note-label").textContent = notice ? "Note (optional; kept with the notice and in the audit log)" :
      "Why: what was found or done (required; kept with the alert and in the audit log)";
    hint.hidden = true;
    note.value = "";
    dialog.showModal();
  }

  // The browser refuses to submit without a choice; say why beside the choices as well.
  outcomes.forEach((i) => {
    i.addEventListener("invalid", () => { hint.hidden = false; });
    i.addEventListener("change", () => { hint.hidden = true; });
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "ok" || !targets) return;
    const list = targets;
    targets = null;
    const chosen = dialog.querySelector('input[name="outcome"]:checked');
    const body = { note: note.value, outcome: chosen ? chosen.value : null };
    const call = list.length === 1 ?
      api("/api/alerts/" + list[0].id + "/close", { method: "POST", body }).then((a) => [a]) :
      api("/api/alerts/bulk", { method: "POST", body: Object.assign({ ids: list.map((a) => a.id), action: "close" }, body) })
        .then((r) => r.alerts);
    call.then(onClosed).catch((e) => onError("Close failed: " + e.message));
  });
  return { ask, askMany };
}
