/* Night, dusk and day colours (S-52's three tables; night must not dazzle), remembered in
 * this browser. */

import { byId } from "./dom.js";

const THEMES = ["night", "dusk", "day"];

/** The theme button, and the theme saved last time; onChange() after each change, to
 *  restyle what is drawn in the theme's colours. */
export function mountTheme({ onChange }) {
  byId("theme").addEventListener("click", () => {
    const cur = document.documentElement.getAttribute("data-theme");
    applyTheme(THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length], onChange);
  });
  const saved = savedTheme();
  if (saved) applyTheme(saved, onChange);
}

function applyTheme(t, onChange) {
  document.documentElement.setAttribute("data-theme", t);
  document.querySelector("#theme .label").textContent = t[0].toUpperCase() + t.slice(1);
  try { localStorage.setItem("mda-theme", t); } catch (e) { /* private mode: not remembered */ }
  onChange();
}

function savedTheme() {
  try {
    const t = localStorage.getItem("mda-theme");
    return t && THEMES.includes(t) ? t : null;
  } catch (e) {
    return null;  // storage refused (private mode, policy)
  }
}
