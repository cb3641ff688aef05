/* The alarm sound: three short pips for a new alarm, repeated while any alarm rings
 * unacknowledged, and a Silence button that mutes it for 30 s (silence is not acknowledge). */

import { byId } from "./dom.js";
import { store } from "./store.js";

const SILENCE_MS = 30e3;
const REPEAT_MS = 5000;

/** Returns {beep(), repeat(), unlock(), showSilence()}. */
export function mountSound() {
  let audio = null, mutedUntil = 0, lastBeep = 0;
  const button = byId("silence");

  // Browsers start audio only after a gesture on the page: make (or resume) the context on
  // every one, so the first alarm is heard.
  function unlock() {
    if (audio) { if (audio.state === "suspended") audio.resume(); return; }
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) { try { audio = new Ctx(); } catch (e) { audio = null; } }
  }
  // Counted even when the browser cannot play it yet, so a test sees that it would sound.
  function beep() {
    if (Date.now() < mutedUntil) return;
    lastBeep = Date.now(); store.stats.beeps = (store.stats.beeps || 0) + 1;
    if (audio && audio.state === "running") pips(audio);
  }
  function repeat() { if (Date.now() - lastBeep > REPEAT_MS) beep(); }
  function showSilence() {
    const left = Math.ceil((mutedUntil - Date.now()) / 1000);
    button.classList.toggle("muted", left > 0);
    button.querySelector(".label").textContent = left > 0 ? "Silenced " + left + " s" : "Sound on";
  }

  document.addEventListener("pointerdown", unlock, { once: false, passive: true });
  document.addEventListener("keydown", unlock, { passive: true });
  button.addEventListener("click", () => { mutedUntil = Date.now() + SILENCE_MS; showSilence(); });
  return { beep, repeat, unlock, showSilence };
}

function pips(audio) {  // three short 880 Hz pips: an alarm, not music
  const t = audio.currentTime;
  [0, 0.22, 0.44].forEach((dt) => {
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = "square"; o.frequency.value = 880;
    g.gain.setValueAtTime(0.0001, t + dt); g.gain.exponentialRampToValueAtTime(0.18, t + dt + 0.01);
    g.gain.exponentialRampToValueAtTime(0.0001, t + dt + 0.16);
    o.connect(g).connect(audio.destination); o.start(t + dt); o.stop(t + dt + 0.18);
  });
}
