/* Leaflet is vendored as a classic script (static/vendor/leaflet/leaflet.js, loaded by the
 * page before the modules). Naming its global here lets every module import what it uses. */

export const L = window.L;
