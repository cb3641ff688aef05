/* Pre-rendered vessel symbols (ux.md): one small bitmap per colour, symbol kind, 5-degree
 * heading step and age (faded). The vessel layer copies their pixels into one buffer that
 * is composited once per frame: far cheaper than a path or a drawImage per vessel on a
 * software canvas. */

import { CLASSES } from "./ships.js";

export const SYM = { TRIANGLE: 0, CIRCLE: 1, DASHED: 2, DIAMOND: 3, LOST: 4 };
// Beacons (AIS-SART, MOB, EPIRB) get their own red, after the ship classes.
export const BEACON_INDEX = CLASSES.length;
const COLORS = CLASSES.map((c) => c.color).concat(["#ff2d2d"]);
const KINDS = 5, HEADING_STEPS = 72;

let current = null;  // the set for the current symbol size and pixel ratio

/** The sprites for a symbol length (CSS px) and device pixel ratio: {px, half, get()}. */
export function spriteSet(size, dpr) {
  if (current && current.size === size && current.dpr === dpr) return current;
  const px = Math.ceil(size * 1.2 * dpr) + 2, cache = new Map();
  current = {
    size, dpr, px, half: px / 2 | 0,
    // a sprite's pixels as Uint32 (RGBA in memory order), rendered on first use
    get(colorIndex, kind, headingStep, faded) {
      const key = ((colorIndex * KINDS + kind) * HEADING_STEPS + headingStep) * 2 + (faded ? 1 : 0);
      let img = cache.get(key);
      if (!img) {
        const c = renderSprite(px, size * dpr, COLORS[colorIndex], kind, headingStep * 5, faded);
        img = new Uint32Array(c.getContext("2d").getImageData(0, 0, px, px).data.buffer);
        cache.set(key, img);
      }
      return img;
    }
  };
  return current;
}

function renderSprite(px, s, color, kind, deg, faded) {
  const c = document.createElement("canvas");
  c.width = c.height = px;
  const g = c.getContext("2d", { willReadFrequently: true }), x = px / 2, y = px / 2;
  g.globalAlpha = faded ? 0.45 : 1;
  g.fillStyle = color; g.strokeStyle = "rgba(0,0,0,.85)"; g.lineWidth = Math.max(1, s / 14);
  g.beginPath();
  if (kind === SYM.TRIANGLE || kind === SYM.DASHED) triangle(g, x, y, s, deg, color, kind === SYM.DASHED);
  else if (kind === SYM.CIRCLE) { g.arc(x, y, s * 0.26, 0, 2 * Math.PI); g.fill(); g.stroke(); }
  else if (kind === SYM.DIAMOND) diamond(g, x, y, s * 0.38);
  else cross(g, x, y, s, color);
  return c;
}

// An acute isosceles triangle, its apex along the heading; dashed outline when neither
// heading nor course is known.
function triangle(g, x, y, s, deg, color, dashed) {
  const a = deg * Math.PI / 180, sn = Math.sin(a), cs = Math.cos(a), hw = s * 0.36;
  g.moveTo(x + sn * s * 0.55, y - cs * s * 0.55);
  g.lineTo(x - sn * s * 0.4 + cs * hw, y + cs * s * 0.4 + sn * hw);
  g.lineTo(x - sn * s * 0.4 - cs * hw, y + cs * s * 0.4 - sn * hw);
  g.closePath();
  if (dashed) { g.setLineDash([2, 2]); g.strokeStyle = color; g.lineWidth = 1.3; g.stroke(); }
  else { g.fill(); g.stroke(); }
}

function diamond(g, x, y, r) {  // aids to navigation and base stations
  g.moveTo(x, y - r); g.lineTo(x + r, y); g.lineTo(x, y + r); g.lineTo(x - r, y); g.closePath();
  g.fill(); g.stroke();
}

function cross(g, x, y, s, color) {  // a lost target: a cross over the last position
  const k = s * 0.32;
  g.strokeStyle = color; g.lineWidth = Math.max(1.4, s / 8);
  g.moveTo(x - k, y - k); g.lineTo(x + k, y + k); g.moveTo(x + k, y - k); g.lineTo(x - k, y + k); g.stroke();
}
