/* The one-click login link (/?token=...): take the token out of the address bar and the
 * history, then post it (web/login.py: a GET never logs anyone in). */
(function () {
  "use strict";
  history.replaceState(null, "", "/login");
  var form = document.getElementById("token-login");
  if (form) form.submit();
})();
