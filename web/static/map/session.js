/* The login across tabs: logging out in one tab ends every tab of this browser at once
 * (a BroadcastChannel message, and a storage event where channels are missing), each
 * closing its live socket and going to the login page; the server ends the session, and
 * sockets elsewhere are closed when their login is next checked. */

import { toLogin } from "./api.js";

const CHANNEL = "mda-session", KEY = "mda-logout";

/** onLogout() runs in the other tabs before they go to the login page. */
export function mountSession({ onLogout }) {
  let channel = null;
  try { channel = new BroadcastChannel(CHANNEL); } catch (e) { channel = null; }
  function ended() { onLogout(); toLogin(); }
  if (channel) channel.onmessage = (m) => { if (m.data === "logout") ended(); };
  window.addEventListener("storage", (e) => { if (e.key === KEY && e.newValue) ended(); });
  const form = document.getElementById("logout-form");
  form.addEventListener("submit", () => {
    if (channel) channel.postMessage("logout");
    try { localStorage.setItem(KEY, String(Date.now())); localStorage.removeItem(KEY); } catch (e) { /* channel did it */ }
    onLogout();
  });
}
