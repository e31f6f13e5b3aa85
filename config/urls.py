"""URL routes: the web pages, the API under /api/v1/, the schema and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import web
from teams.forms import GuardedAdminAuthenticationForm, GuardedAuthenticationForm

# Django admin's login checks passwords too: behind the same sign-in guard (teams.throttle).
admin.site.login_form = GuardedAdminAuthenticationForm

api_v1: list[URLPattern | URLResolver] = [
    path("", include("messaging.api_urls")),  # first: posts and reads are most of the traffic
    path("", include("teams.api_urls")),
    path("", include("patients.api_urls")),
    path("", include("notifications.api_urls")),
    path("", include("media.api_urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),  # first: Django tries the patterns in order
    path("sw.js", web.service_worker, name="service-worker"),
    path("manifest.webmanifest", web.manifest, name="manifest"),
    path("offline/", web.offline, name="offline"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline, and
    # api_docs.html drops the inline <style>: the docs live under the same strict CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html"),
        name="api-docs",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path(
        "login/",
        auth_views.LoginView.as_view(authentication_form=GuardedAuthenticationForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("teams.account_urls")),
    path("audit/", include("audit.urls")),
    path("directory/", include("teams.urls")),
    path("notifications/", include("notifications.urls")),
    path("", include("conferences.urls")),
    path("", include("messaging.urls")),
    path("", include("media.urls")),
    path("", include("patients.urls")),
]

handler404 = "config.web.page_not_found"
