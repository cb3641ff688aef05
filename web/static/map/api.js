/* The API client: JSON over fetch with the session's CSRF token on every change, errors
 * as ApiError carrying the server's message, and a lapsed login sent to the login page. */

const CSRF = document.querySelector('meta[name="csrf-token"]').content;

/** An API call that failed: the HTTP status, the error code and the server's message
 *  (web/errors.py: {"error": {"status", "code", "message"}}). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The login page, coming back here after. */
export function toLogin() {
  location.href = "/login?next=" + encodeURIComponent(location.pathname);
}

/** GET (default) or another method with an optional JSON body; resolves to the JSON answer. */
export function api(path, { method = "GET", body } = {}) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = CSRF;
  return fetch(path, { method, headers, credentials: "same-origin",
    body: body !== undefined ? JSON.stringify(body) : undefined }).then(answer);
}

function answer(r) {
  if (r.status === 401) {  // the session ended (expired, logged out elsewhere, revoked)
    toLogin();
    throw new ApiError(401, "unauthorized", "logged out");
  }
  if (r.ok) return r.json();
  // An error page from something in between (a proxy) is not JSON: say the status instead.
  return r.json().catch(() => ({})).then((body) => {
    const e = body.error || {};
    throw new ApiError(r.status, e.code || "http", e.message || ("HTTP " + r.status));
  });
}

/** POST a text body (a CSV file) with its content type; resolves to the JSON answer. */
export function apiText(path, text, type) {
  return fetch(path, { method: "POST", credentials: "same-origin", body: text,
    headers: { "Accept": "application/json", "Content-Type": type, "X-CSRF-Token": CSRF } }).then(answer);
}

/** POST a FormData (a file upload, multipart); resolves to the JSON answer. */
export function apiForm(path, form) {
  return fetch(path, { method: "POST", credentials: "same-origin", body: form,
    headers: { "Accept": "application/json", "X-CSRF-Token": CSRF } }).then(answer);
}
