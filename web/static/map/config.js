/* The page's settings, rendered by the server into the JSON block of templates/map.html:
 * tiles_url, user, role, can_acknowledge and kinds (the table of alert kinds). A page is
 * rendered per login, so these never change while it is open. */

export const config = JSON.parse(document.getElementById("mda-config").textContent || "{}");
