/* Closing an alert asks what the officer found (the outcome: how each rule's false alarms
 * are counted) and a note. The choice is required for a desk alert (the form will not
 * submit without it; the API refuses too), optional for a data-quality notice. */

import { api } from "./api.js";
import { alertVesselName, isNotice, kindLabel } from "./alerts.js";
import { byId } from "./dom.js";

/** Returns {ask(alert)}; onClosed(updated) once the server has closed it, onError(text). */
export function mountCloseDialog({ onClosed, onError }) {
  const dialog = byId("note-dialog");
  const outcomes = dialog.querySelectorAll('input[name="outcome"]');
  const hint = byId("outcome-hint");
  let target = null;

  function ask(a) {
    target = a;
    const notice = isNotice(a);
    byId("note-title").textContent = (notice ? "Close notice: " : "Close: ") + kindLabel(a.kind) + " · " +
      (alertVesselName(a) || a.mmsi || "");
    outcomes.forEach((i) => { i.checked = false; i.required = !notice; });
    byId("outcome-need").textContent = notice ? "(optional for a notice)" : "(required)";
    hint.hidden = true;
    byId("note-text").value = "";
    dialog.showModal();
  }

  // The browser refuses to submit without a choice; say why beside the choices as well.
  outcomes.forEach((i) => {
    i.addEventListener("invalid", () => { hint.hidden = false; });
    i.addEventListener("change", () => { hint.hidden = true; });
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "ok" || !target) return;
    const a = target;
    target = null;
    const chosen = dialog.querySelector('input[name="outcome"]:checked');
    api("/api/alerts/" + a.id + "/close", { method: "POST", body: {
      note: byId("note-text").value, outcome: chosen ? chosen.value : null } })
      .then(onClosed)
      .catch((e) => onError("Close failed: " + e.message));
  });
  return { ask };
}
