/* What this browser remembers across reloads (view, filters, selection, desk view), in
 * localStorage under "mda-<name>"; a refused storage (private mode, policy) only forgets. */

export function loadPrefs(name, defaults) {
  try {
    const v = JSON.parse(localStorage.getItem("mda-" + name) || "null");
    return v && typeof v === "object" ? Object.assign({}, defaults, v) : Object.assign({}, defaults);
  } catch (e) {
    return Object.assign({}, defaults);
  }
}

export function savePrefs(name, value) {
  try { localStorage.setItem("mda-" + name, JSON.stringify(value)); } catch (e) { /* not remembered */ }
}
