// Swagger UI for /api/openapi.json, sending the session's CSRF token on state changes.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger",
    deepLinking: true,
    requestInterceptor: function (req) {
      if (req.method && req.method.toUpperCase() !== "GET" && csrf) {
        req.headers["X-CSRF-Token"] = csrf;
      }
      return req;
    }
  });
})();
