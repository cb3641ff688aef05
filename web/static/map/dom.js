/* Small DOM helpers shared by the console's modules. */

export function byId(id) { return document.getElementById(id); }

/** A new element with attributes and (already escaped) inner HTML. */
export function el(tag, attrs, html) {
  const e = document.createElement(tag);
  if (attrs) Object.keys(attrs).forEach((k) => e.setAttribute(k, attrs[k]));
  if (html != null) e.innerHTML = html;
  return e;
}

/** A colour of the current theme (a custom property of map.css). Read when drawing, so a
 *  theme change needs no bookkeeping. */
export function themeColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
