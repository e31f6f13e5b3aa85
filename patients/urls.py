"""Web routes of the patients app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Kizuna")


urlpatterns = [path("", home, name="home")]
