/* Kizuna notifications: this device's Web Push subscription, on the preferences page.

   Asks the API for the VAPID public key (none: push is off on this server), then offers to
   subscribe or unsubscribe through the service worker's PushManager, and stores or drops the
   subscription with POST/DELETE /api/v1/notifications/push/. */

const KEY_URL = "/api/v1/notifications/push/key/";
const SUB_URL = "/api/v1/notifications/push/";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function keyBytes(base64url) {
  const padded = (base64url + "===".slice((base64url.length + 3) % 4))
    .replace(/-/g, "+")
    .replace(/_/g, "/");
  const raw = window.atob(padded);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function send(method, body) {
  return fetch(SUB_URL, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  }).then((response) => {
    if (!response.ok) {
      throw new Error(String(response.status));
    }
  });
}

function start() {
  const status = document.getElementById("push-status");
  const on = document.getElementById("push-subscribe");
  const off = document.getElementById("push-unsubscribe");
  const texts = document.getElementById("push-texts");
  if (!status || !on || !off || !texts) {
    return;
  }
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.isSecureContext) {
    return;
  }
  const say = (name) => {
    status.textContent = texts.getAttribute("data-" + name) || "";
  };
  let publicKey = "";

  const show = (subscription) => {
    on.hidden = Boolean(subscription);
    off.hidden = !subscription;
    say(subscription ? "on" : "off");
  };

  fetch(KEY_URL, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : { public_key: "" }))
    .then((body) => {
      publicKey = body.public_key || "";
      if (!publicKey) {
        return null;
      }
      return navigator.serviceWorker.ready
        .then((registration) => registration.pushManager.getSubscription())
        .then(show);
    })
    .catch(() => say("failed"));

  on.addEventListener("click", () => {
    Notification.requestPermission()
      .then((permission) => {
        if (permission !== "granted") {
          say("denied");
          return null;
        }
        return navigator.serviceWorker.ready
          .then((registration) =>
            registration.pushManager.subscribe({
              userVisibleOnly: true,
              applicationServerKey: keyBytes(publicKey),
            }),
          )
          .then((subscription) => send("POST", subscription.toJSON()).then(() => show(subscription)));
      })
      .catch(() => say("failed"));
  });

  off.addEventListener("click", () => {
    navigator.serviceWorker.ready
      .then((registration) => registration.pushManager.getSubscription())
      .then((subscription) => {
        if (!subscription) {
          show(null);
          return null;
        }
        const endpoint = subscription.endpoint;
        return subscription
          .unsubscribe()
          .then(() => send("DELETE", { endpoint }))
          .then(() => show(null));
      })
      .catch(() => say("failed"));
  });
}

start();
