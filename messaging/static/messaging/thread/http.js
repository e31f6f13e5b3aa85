/* Kizuna contact-book thread: JSON requests to the API (/api/v1/…) with the session cookie.

   `makeApi(form)` gives `api(method, url, payload)`, which resolves to {status, data,
   retryAfter} for any HTTP answer (data is null when the body is not JSON; retryAfter is the
   Retry-After header in seconds, or null) and rejects only when no answer came (offline,
   server unreachable). A request with a payload carries the CSRF token: from the
   csrftoken cookie, else from the composer form's hidden field.

   `makeApi(form, { background: true })` marks its requests with X-Kizuna-Background: 1: the
   page makes them by itself (resyncs, read marks), so they do not count as the user's
   activity for the session's idle timeout (teams/sessions.py). */

function csrfToken(form) {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) {
    return decodeURIComponent(match[1]);
  }
  const field = form ? form.querySelector("input[name=csrfmiddlewaretoken]") : null;
  return field ? field.value : "";
}

// A 429's Retry-After, in seconds (the server sends seconds, never a date).
function retryAfter(response) {
  const seconds = parseInt(response.headers.get("Retry-After") || "", 10);
  return seconds > 0 ? seconds : null;
}

export function makeApi(form, { background = false } = {}) {
  return function api(method, url, payload) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "XMLHttpRequest" },
    };
    if (background) {
      init.headers["X-Kizuna-Background"] = "1";
    }
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken(form);
      init.body = JSON.stringify(payload);
    }
    return fetch(url, init).then((response) =>
      response
        .json()
        .catch(() => null)
        .then((data) => ({ status: response.status, data, retryAfter: retryAfter(response) })),
    );
  };
}
