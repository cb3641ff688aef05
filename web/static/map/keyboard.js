/* Keyboard shortcuts for the alarm workflow, so the desk can be worked without a mouse:
 *
 *   j / ↓   next alert card        k / ↑   previous card       n   next unacknowledged alarm
 *   a       acknowledge            c       close…              Enter / s   show on the map
 *   t       timeline (History)     h       Active / History    /   search
 *   f       follow the selected vessel     Esc   end the innermost: dialog, field, tool, panel
 *   ?       this list
 *
 * Keys are ignored while typing in a field (Esc still leaves it) or while a dialog is open.
 * Esc ends one thing per press, the innermost: an open dialog (the browser's own), else the
 * field being typed in, else a map tool (measuring, drawing an area: those modules take the
 * key first, in the capture phase, and mark it used), else the vessel panel. */

import { byId } from "./dom.js";

export const SHORTCUTS = [
  ["j  ↓", "next alert"], ["k  ↑", "previous alert"], ["n", "next unacknowledged alarm"], ["a", "acknowledge"],
  ["c", "close (outcome and reason)"], ["Enter  s", "show on the map"], ["t", "timeline"], ["h", "Active / History"],
  ["/", "search vessels"], ["f", "follow the selected vessel"], ["Esc", "end the innermost: dialog, tool, then panel"], ["?", "these keys"]
];

export function mountKeyboard({ desk, panel, search }) {
  const help = byId("keys-dialog");
  byId("keys-body").innerHTML = SHORTCUTS.map(([k, what]) => "<dt><kbd>" + k.split("  ").join("</kbd> <kbd>") + "</kbd></dt><dd>" + what + "</dd>").join("");
  byId("keys-toggle").addEventListener("click", () => help.showModal());
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target, typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (document.querySelector("dialog[open]")) return;  // the dialog has the keys (Esc closes it)
    if (e.key === "Escape") {
      if (typing) { t.blur(); return; }
      if (!byId("vessel-panel").hidden) { panel.close(); e.preventDefault(); }
      return;
    }
    if (typing) return;
    const onButton = t && t.tagName === "BUTTON";
    const k = e.key;
    let done = true;
    if (k === "j" || k === "ArrowDown") desk.step(1);
    else if (k === "k" || k === "ArrowUp") desk.step(-1);
    else if (k === "n") desk.nextAlarm();
    else if (k === "a") desk.act("ack");
    else if (k === "c") desk.act("close");
    else if ((k === "Enter" && !onButton) || k === "s") desk.act("show");
    else if (k === "t") desk.act("timeline");
    else if (k === "h") document.querySelector('#desk .tabs button:not(.active)').click();
    else if (k === "/") search.focus();
    else if (k === "f") { const b = document.querySelector('#vp-body [data-tool="follow"]'); if (b) b.click(); }
    else if (k === "?") help.showModal();
    else done = false;
    if (done) e.preventDefault();
  });
}
