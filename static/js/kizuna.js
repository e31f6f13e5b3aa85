/* Kizuna page script: service-worker registration, the offline banner, and clearing the
   cached patient pages at logout and on the login page. Plain JS, no inline handlers, so a
   strict Content-Security-Policy can forbid inline script. */
(function () {
  "use strict";

  var PAGE_CACHE_PREFIX = "kizuna-pages";

  // htmx reads its config from <meta name="htmx-config">; keep the indicator styles off here
  // too in case htmx was loaded before the meta tag was seen (a strict CSP blocks them).
  if (window.htmx) {
    window.htmx.config.includeIndicatorStyles = false;
  }

  function clearPageCaches() {
    var jobs = [];
    // Outboxes, drafts and last-seen seqs of threads (thread.js keeps them under "kizuna.").
    try {
      Object.keys(localStorage).forEach(function (k) {
        if (k.indexOf("kizuna.") === 0) { localStorage.removeItem(k); }
      });
    } catch (e) { /* no storage */ }
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "clear-pages" });
    }
    if (window.caches) {
      jobs.push(
        caches.keys().then(function (names) {
          return Promise.all(
            names
              .filter(function (name) { return name.indexOf(PAGE_CACHE_PREFIX) === 0; })
              .map(function (name) { return caches.delete(name); })
          );
        })
      );
    }
    return Promise.all(jobs).catch(function () { /* nothing cached: nothing to clear */ });
  }
  window.kizunaClearPageCaches = clearPageCaches;

  function setOfflineBanner() {
    var banner = document.getElementById("offline-banner");
    if (banner) {
      banner.hidden = navigator.onLine;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setOfflineBanner();

    var logout = document.getElementById("logout-form");
    if (logout) {
      logout.addEventListener("submit", function (event) {
        event.preventDefault();
        // Submit even if clearing fails or hangs: logging out must never be blocked.
        var done = false;
        function go() {
          if (!done) { done = true; logout.submit(); }
        }
        clearPageCaches().then(go, go);
        window.setTimeout(go, 2000);
      });
    }

    // The session has ended or never started: nothing of a patient may stay on this device.
    if (document.body.hasAttribute("data-clear-patient-cache")) {
      clearPageCaches();
    }
  });

  window.addEventListener("online", setOfflineBanner);
  window.addEventListener("offline", setOfflineBanner);

  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {
        /* the app works without it, only not offline */
      });
    });
  }
})();
