{% load static %}/* Kizuna service worker, served at /sw.js (scope "/").

   - App shell (css, js, icons, offline page): cached at install, served cache-first.
   - The thread page's ES modules (messaging/thread/*.js) are part of the shell
     (config/web.py SHELL_STATIC), so a patient page read offline still runs its thread
     script and its offline outbox, and a changed module changes CONFIG.version: a new
     worker caches the new set whole. The shell is fetched past the HTTP cache at install,
     so a new worker never stores a stale copy.
   - Patient pages (/patients/<id>/): network-first; each successful load is cached with the
     time it was stored; when the network fails, the cached copy is served if it is younger
     than 12 hours. Older copies are never served and are deleted when seen.
   - The patient-page cache is deleted at logout (the page posts "clear-pages") and whenever
     a navigation reaches the login page (the session has ended).
   - Partial (htmx) requests, API calls and writes always go to the network. */
"use strict";

var CONFIG = {{ config_json|safe }};
var SHELL_CACHE = "kizuna-shell-" + CONFIG.version;
var PAGE_CACHE = "kizuna-pages";
var STAMP_HEADER = "X-Kizuna-Cached-At";
var MAX_PAGES = 20;
var PATIENT_PAGE = /^\/patients\/\d+\/$/;
function shellPaths() {
  return CONFIG.shellUrls.map(function (u) { return new URL(u, self.location.origin).pathname; });
}

function freshRequest(url) {
  return new Request(url, { cache: "no-cache" });
}

function pageKey(url) {
  return url.origin + url.pathname;
}

function stampOf(response) {
  var stamp = Number(response.headers.get(STAMP_HEADER));
  return isFinite(stamp) ? stamp : 0;
}

function isFresh(response) {
  var stamp = stampOf(response);
  return stamp > 0 && Date.now() - stamp <= CONFIG.maxAgeMs;
}

function clearPages() {
  return caches.delete(PAGE_CACHE);
}

/* Delete stale copies, and keep only the most recent MAX_PAGES pages. */
function trimPages() {
  return caches.open(PAGE_CACHE).then(function (cache) {
    return cache.keys().then(function (requests) {
      return Promise.all(requests.map(function (request) {
        return cache.match(request).then(function (response) {
          return { request: request, stamp: response ? stampOf(response) : 0, fresh: !!response && isFresh(response) };
        });
      })).then(function (entries) {
        entries.sort(function (a, b) { return b.stamp - a.stamp; });
        return Promise.all(entries.map(function (entry, index) {
          if (!entry.fresh || index >= MAX_PAGES) {
            return cache.delete(entry.request);
          }
          return null;
        }));
      });
    });
  });
}

function storePage(url, response) {
  return response.blob().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set(STAMP_HEADER, String(Date.now()));
    headers.delete("Vary");
    var stamped = new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: headers
    });
    return caches.open(PAGE_CACHE).then(function (cache) {
      return cache.put(pageKey(url), stamped);
    });
  }).then(trimPages);
}

function cachedPage(url) {
  return caches.open(PAGE_CACHE).then(function (cache) {
    return cache.match(pageKey(url), { ignoreVary: true, ignoreSearch: true }).then(function (response) {
      if (!response) {
        return null;
      }
      if (!isFresh(response)) {
        return cache.delete(pageKey(url)).then(function () { return null; });
      }
      return response;
    });
  });
}

function offlinePage() {
  return caches.match(CONFIG.offlineUrl).then(function (response) {
    return response || new Response("offline", { status: 503, headers: { "Content-Type": "text/plain" } });
  });
}

function handleNavigation(request) {
  var url = new URL(request.url);
  var isPatient = PATIENT_PAGE.test(url.pathname);
  var leaving = url.pathname === CONFIG.loginUrl ? clearPages() : Promise.resolve();
  return leaving.then(function () {
    return fetch(request).then(function (response) {
      var finalPath = response.url ? new URL(response.url).pathname : url.pathname;
      if (finalPath === CONFIG.loginUrl) {
        return clearPages().then(function () { return response; });
      }
      if (isPatient && response.status === 200 && response.type === "basic" && !response.redirected) {
        return storePage(url, response.clone()).then(function () { return response; }, function () { return response; });
      }
      if (isPatient && (response.status === 404 || response.status === 403)) {
        return caches.open(PAGE_CACHE).then(function (cache) {
          return cache.delete(pageKey(url));
        }).then(function () { return response; });
      }
      return response;
    }, function () {
      // The network failed: offline, or the server is unreachable.
      var fallback = isPatient ? cachedPage(url) : Promise.resolve(null);
      return fallback.then(function (cached) {
        return cached || offlinePage();
      });
    });
  });
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE).then(function (cache) {
      return cache.addAll(CONFIG.shellUrls.map(freshRequest));
    }).then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("kizuna-shell-") === 0 && name !== SHELL_CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(trimPages).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "clear-pages") {
    event.waitUntil(clearPages());
  }
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") {
    return;
  }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(handleNavigation(request));
    return;
  }
  if (shellPaths().indexOf(url.pathname) !== -1) {
    event.respondWith(
      caches.open(SHELL_CACHE).then(function (cache) {
        return cache.match(request, { ignoreSearch: true }).then(function (hit) {
          return hit || fetch(request);
        });
      })
    );
  }
});

/* Web Push (notifications/channels.py): the payload is {title, url, urgency, tag}, never a
   patient's details. An urgent notice stays on screen until acted on. */
self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (e) {
    data = {};
  }
  var title = typeof data.title === "string" && data.title ? data.title : "Kizuna";
  var target = typeof data.url === "string" ? data.url : "/notifications/";
  event.waitUntil(
    self.registration.showNotification(title, {
      tag: typeof data.tag === "string" ? data.tag : undefined,
      data: { url: target },
      icon: CONFIG.iconUrl || undefined,
      requireInteraction: data.urgency === "urgent",
      renotify: data.urgency === "urgent"
    })
  );
});

/* Opens the notice's page: an open tab of this site is focused and sent there, else a new
   window opens. Only same-origin links are followed. */
self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var raw = event.notification.data && event.notification.data.url;
  var target;
  try {
    target = new URL(raw || "/notifications/", self.location.origin);
  } catch (e) {
    target = new URL("/notifications/", self.location.origin);
  }
  if (target.origin !== self.location.origin) {
    target = new URL("/notifications/", self.location.origin);
  }
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i += 1) {
        if (new URL(windows[i].url).origin === self.location.origin && "focus" in windows[i]) {
          return windows[i].focus().then(function (client) {
            return client && "navigate" in client ? client.navigate(target.href) : client;
          });
        }
      }
      return self.clients.openWindow(target.href);
    })
  );
});
