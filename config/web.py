"""Web plumbing outside any app: the web-app manifest, the service worker, the offline page
and the styled error pages (404, and 429 for a throttled page).

The service worker is served from the site root (`/sw.js`) so that its scope is the whole
site; its source is the template `sw.js`, rendered with the current static URLs and a version
that changes whenever a file of the app shell changes (so an update replaces the old cache).
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from config.errors import Throttled

# What the service worker keeps for offline use, as static paths.
SHELL_STATIC = (
    "css/kizuna.css",
    "js/kizuna.js",
    "django_htmx/htmx-2.min.js",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "notifications/bell.js",
    "messaging/thread.js",
    "messaging/thread.css",
    # The patient page's tabs and columns, and home's live unread counts (issue 15).
    "patients/tabs.js",
    "patients/patient.css",
    "messaging/unread.js",
    "messaging/unread.css",
    # The thread page's ES modules, imported by messaging/thread.js: in the shell so that a
    # patient page read offline still runs its thread and outbox, and so that a changed
    # module makes a new worker (tests/browser/test_page_scripts.py checks the list).
    "messaging/thread/actions.js",
    "messaging/thread/composer.js",
    "messaging/thread/http.js",
    "messaging/thread/mentions.js",
    "messaging/thread/outbox.js",
    "messaging/thread/reads.js",
    "messaging/thread/render.js",
    "messaging/thread/requests.js",
    "messaging/thread/socket.js",
    "messaging/thread/storage.js",
    "messaging/thread/sync.js",
    "messaging/thread/view.js",
    # The photo modules the thread imports (camera, tray, photo store, uploads) and their
    # style: a patient page read offline still takes photos into its outbox.
    "media/camera.js",
    "media/controls.js",
    "media/photostore.js",
    "media/tray.js",
    "media/upload.js",
    "media/photos.css",
)

# A cached patient page older than this is neither served nor kept (milliseconds, for JS).
PAGE_MAX_AGE_MS = 12 * 60 * 60 * 1000


@functools.cache
def shell_version() -> str:
    """A short hash of the app shell's files: a new version when any of them changes."""
    digest = hashlib.sha256()
    for path in SHELL_STATIC:
        found = finders.find(path)
        if isinstance(found, str):
            with open(found, "rb") as fh:
                digest.update(fh.read())
    digest.update(render_to_string("offline.html").encode())
    return digest.hexdigest()[:12]


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    config = {
        "version": shell_version(),
        "shellUrls": [static(p) for p in SHELL_STATIC] + [reverse("offline")],
        "offlineUrl": reverse("offline"),
        "loginUrl": reverse("login"),
        "maxAgeMs": PAGE_MAX_AGE_MS,
        "iconUrl": static("icons/icon-192.png"),
    }
    context = {"config_json": json.dumps(config)}
    return render(request, "sw.js", context, content_type="application/javascript")


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    data: dict[str, Any] = {
        "name": "絆 Kizuna",
        "short_name": "Kizuna",
        "description": _("在宅医療・介護チームの電子連絡帳"),
        "lang": "ja",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1d5a84",
        "icons": [
            {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return JsonResponse(
        data,
        content_type="application/manifest+json",
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    """The page the service worker shows when offline with nothing cached. No user data."""
    return render(request, "offline.html")


def not_found(request: HttpRequest) -> HttpResponse:
    """The styled not-found page with status 404, also when DEBUG is on.

    Views call this for `config.api.NotFound`, so a page someone may not see looks exactly
    like a page that does not exist.
    """
    return render(request, "404.html", status=404)


def too_many_requests(request: HttpRequest, exc: Throttled) -> HttpResponse:
    """The styled 429 page for a `Throttled` refusal: its message says when to try again,
    and `Retry-After` says it to the browser (seconds)."""
    context = {"message": exc.message, "retry_url": request.get_full_path()}
    response = render(request, "429.html", context, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """`handler404`: the styled page for any unknown URL when DEBUG is off."""
    return not_found(request)
