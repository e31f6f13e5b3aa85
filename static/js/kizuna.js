/* Kizuna page script, on every page (templates/base.html), as an ES module: service-worker
   registration, the offline banner, and clearing what a patient page left on the device
   (the service worker's page cache, the threads' "kizuna." localStorage keys) at logout and
   on the login page. No inline handlers, so a strict Content-Security-Policy can forbid
   inline script. Modules run once the document is parsed, before DOMContentLoaded. */

const PAGE_CACHE_PREFIX = "kizuna-pages";
const LOGOUT_WAIT_MS = 2000;

// htmx reads its config from <meta name="htmx-config">; keep the indicator styles off here
// too in case htmx was loaded before the meta tag was seen (a strict CSP blocks them).
if (window.htmx) {
  window.htmx.config.includeIndicatorStyles = false;
}

function clearPageCaches() {
  const jobs = [];
  // Outboxes, drafts and last-seen seqs of threads (thread.js keeps them under "kizuna.").
  try {
    Object.keys(localStorage).forEach((k) => {
      if (k.indexOf("kizuna.") === 0) {
        localStorage.removeItem(k);
      }
    });
  } catch {
    /* no storage */
  }
  if (navigator.serviceWorker && navigator.serviceWorker.controller) {
    navigator.serviceWorker.controller.postMessage({ type: "clear-pages" });
  }
  if (window.caches) {
    jobs.push(
      caches.keys().then((names) =>
        Promise.all(
          names
            .filter((name) => name.indexOf(PAGE_CACHE_PREFIX) === 0)
            .map((name) => caches.delete(name)),
        ),
      ),
    );
  }
  return Promise.all(jobs).catch(() => {
    /* nothing cached: nothing to clear */
  });
}
window.kizunaClearPageCaches = clearPageCaches;

function setOfflineBanner() {
  const banner = document.getElementById("offline-banner");
  if (banner) {
    banner.hidden = navigator.onLine;
  }
}

function start() {
  setOfflineBanner();

  const logout = document.getElementById("logout-form");
  if (logout) {
    logout.addEventListener("submit", (event) => {
      event.preventDefault();
      // Submit even if clearing fails or hangs: logging out must never be blocked.
      let done = false;
      const go = () => {
        if (!done) {
          done = true;
          logout.submit();
        }
      };
      clearPageCaches().then(go, go);
      window.setTimeout(go, LOGOUT_WAIT_MS);
    });
  }

  // The session has ended or never started: nothing of a patient may stay on this device.
  if (document.body.hasAttribute("data-clear-patient-cache")) {
    clearPageCaches();
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}

window.addEventListener("online", setOfflineBanner);
window.addEventListener("offline", setOfflineBanner);

if ("serviceWorker" in navigator && window.isSecureContext) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
      /* the app works without it, only not offline */
    });
  });
}
