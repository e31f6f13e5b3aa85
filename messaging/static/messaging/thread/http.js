/* Kizuna contact-book thread: JSON requests to the API (/api/v1/…) with the session cookie.

   `makeApi(form)` gives `api(method, url, payload)`, which resolves to {status, data} for any
   HTTP answer (data is null when the body is not JSON) and rejects only when no answer came
   (offline, server unreachable). A request with a payload carries the CSRF token: from the
   csrftoken cookie, else from the composer form's hidden field. */

function csrfToken(form) {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) {
    return decodeURIComponent(match[1]);
  }
  const field = form ? form.querySelector("input[name=csrfmiddlewaretoken]") : null;
  return field ? field.value : "";
}

export function makeApi(form) {
  return function api(method, url, payload) {
    const init = {
      method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "XMLHttpRequest" },
    };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = csrfToken(form);
      init.body = JSON.stringify(payload);
    }
    return fetch(url, init).then((response) =>
      response
        .json()
        .catch(() => null)
        .then((data) => ({ status: response.status, data })),
    );
  };
}
