/* The alarm sound, honest about its state (ux.md: silence is not acknowledge):
 *
 * - "Sound not enabled": the browser has not allowed audio yet (no click or key on this
 *   page since it loaded). Alarms are counted but cannot be heard; the button says so,
 *   flashing while an alarm rings, and one click enables it.
 * - "Sound on": three short pips for a new alarm, repeated every 5 s while any alarm
 *   rings unacknowledged. "Test" plays them once.
 * - "Silenced 30 s": the repeat stops for 30 s and comes back if the alarm still rings.
 * - "Muted": no sound until unmuted (kept for this tab only: a reload is never silent).
 */

import { byId } from "./dom.js";
import { store } from "./store.js";

const SILENCE_MS = 30e3;
const REPEAT_MS = 5000;

/** Returns {beep(), repeat(ringing), unlock(), showSilence(ringing), state()}. */
export function mountSound() {
  let audio = null, silencedUntil = 0, muted = false, lastBeep = 0;
  const stateBtn = byId("sound-state"), silenceBtn = byId("silence"), muteBtn = byId("mute"), testBtn = byId("sound-test");

  // Browsers start audio only after a gesture on the page: make (or resume) the context on
  // every one, so the first alarm is heard.
  function unlock() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) { try { audio = new Ctx(); } catch (e) { audio = null; } }
    if (audio && audio.state === "suspended") audio.resume().then(() => showSilence(), () => {});
    showSilence();
  }
  function state() {
    if (!audio || audio.state !== "running") return "blocked";
    if (muted) return "muted";
    if (Date.now() < silencedUntil) return "silenced";
    return "on";
  }
  // Counted even when it cannot be heard, so a test sees that it would sound.
  function beep() {
    if (muted || Date.now() < silencedUntil) return;
    lastBeep = Date.now(); store.stats.beeps = (store.stats.beeps || 0) + 1;
    if (audio && audio.state === "running") pips(audio);
  }
  function repeat() { if (Date.now() - lastBeep > REPEAT_MS) beep(); }
  function showSilence(ringing) {
    const s = state(), left = Math.ceil((silencedUntil - Date.now()) / 1000);
    stateBtn.className = "tool sound-" + s + (s === "blocked" && ringing ? " flash" : "");
    stateBtn.querySelector(".label").textContent =
      s === "blocked" ? "Sound not enabled" : s === "muted" ? "Muted" : s === "silenced" ? "Silenced " + left + " s" : "Sound on";
    stateBtn.title = s === "blocked" ? "The browser has not allowed sound yet: click to enable the alarm sound" :
      s === "muted" ? "Alarm sound muted: click to unmute" : "Alarm sound on: click to test";
    stateBtn.setAttribute("aria-label", stateBtn.title);
    stateBtn.dataset.state = s;
    muteBtn.setAttribute("aria-pressed", String(muted));
    muteBtn.querySelector(".label").textContent = muted ? "Unmute" : "Mute";
    silenceBtn.disabled = muted;
  }

  document.addEventListener("pointerdown", unlock, { passive: true });
  document.addEventListener("keydown", unlock, { passive: true });
  stateBtn.addEventListener("click", () => {
    const s = state();
    if (s === "muted") muted = false;
    else if (s !== "blocked") test();
    showSilence();
  });
  function test() { if (audio && audio.state === "running") pips(audio); store.stats.soundTests = (store.stats.soundTests || 0) + 1; }
  testBtn.addEventListener("click", () => { unlock(); test(); });
  silenceBtn.addEventListener("click", () => { silencedUntil = Date.now() + SILENCE_MS; showSilence(); });
  muteBtn.addEventListener("click", () => { muted = !muted; showSilence(); });
  showSilence();
  return { beep, repeat, unlock, showSilence, state, silence: () => silenceBtn.click() };
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
