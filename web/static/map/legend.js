/* The legend: a filter and a count per ship class, and how many vessels are drawn. */

import { byId, el } from "./dom.js";
import { esc } from "./format.js";
import { CLASSES, CLASS_INDEX, classOf } from "./ships.js";
import { loadPrefs, savePrefs } from "./prefs.js";
import { store } from "./store.js";

const RECOUNT_EVERY_MS = 1000;

/** Builds the class list; onFilter() after a class is shown or hidden.
 *  Returns {countNow, countSoon, showDrawn}. */
export function mountLegend({ onFilter }) {
  const list = byId("legend-classes");
  // Collapsible (remembered): the heading is the toggle.
  const legend = byId("legend"), toggle = byId("legend-toggle");
  const collapsed = loadPrefs("legend", { collapsed: false }).collapsed;
  function collapse(on) {
    legend.classList.toggle("collapsed", on); toggle.setAttribute("aria-expanded", String(!on));
    savePrefs("legend", { collapsed: on });
  }
  collapse(!!collapsed);
  toggle.addEventListener("click", () => collapse(!legend.classList.contains("collapsed")));
  CLASSES.forEach((c) => {
    list.appendChild(el("li", null, '<label><input type="checkbox" checked data-class="' + c.id +
      '"><span class="swatch" style="background:' + c.color + '"></span>' + esc(c.label) +
      '<span class="n" data-count="' + c.id + '">0</span></label>'));
  });
  list.addEventListener("change", (e) => {
    const id = e.target.getAttribute("data-class");
    if (!id) return;
    store.hiddenClasses[CLASS_INDEX[id]] = !e.target.checked;
    savePrefs("classes", { hidden: CLASSES.filter((c) => store.hiddenClasses[CLASS_INDEX[c.id]]).map((c) => c.id) });
    onFilter();
  });

  // The type filters remembered from last time (a vessel in alarm shows whatever they say).
  (loadPrefs("classes", { hidden: [] }).hidden || []).forEach((id) => {
    if (!(id in CLASS_INDEX)) return;
    store.hiddenClasses[CLASS_INDEX[id]] = true;
    const box = list.querySelector('input[data-class="' + id + '"]');
    if (box) box.checked = false;
  });

  let timer = null, countedAt = 0;
  function countNow() {
    countedAt = Date.now(); store.stats.legendUpdates++;
    const n = {};
    store.vessels.forEach((v) => { const c = classOf(v); n[c] = (n[c] || 0) + 1; });
    CLASSES.forEach((c) => {
      const e = list.querySelector('[data-count="' + c.id + '"]');
      if (e) e.textContent = (n[c.id] || 0).toLocaleString("en");
    });
  }
  // Live frames add vessels and change types many times a second: recount (a full pass
  // over the vessels) at most once a second, the first change at once.
  function countSoon() {
    if (timer) return;
    timer = setTimeout(() => { timer = null; countNow(); }, Math.max(0, countedAt + RECOUNT_EVERY_MS - Date.now()));
  }
  return { countNow, countSoon, showDrawn };
}

/** "Vessels 1,234" in view, "/ 5,678" after it when some are off screen or filtered out. */
function showDrawn(drawn, total) {
  byId("vessel-count").textContent = drawn.toLocaleString("en") +
    (drawn !== total ? " / " + total.toLocaleString("en") : "");
}
