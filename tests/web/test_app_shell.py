"""The installable-app plumbing, the language switch and the catalogs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import get_template
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"


def test_manifest_describes_the_installable_app(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/manifest+json")
    data = response.json()
    assert data["name"] == "絆 Kizuna"
    assert data["start_url"] == "/"
    assert data["display"] == "standalone"
    sizes = {icon["sizes"] for icon in data["icons"]}
    assert {"192x192", "512x512"} <= sizes


@pytest.mark.parametrize("size", [192, 512])
def test_icons_are_square_pngs_of_their_size(size):
    from PIL import Image

    path = finders.find(f"icons/icon-{size}.png")
    assert isinstance(path, str)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)


def test_service_worker_is_served_from_the_root_as_javascript(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "no-cache" in response["Cache-Control"]
    body = response.content.decode()
    assert '"/offline/"' in body
    assert "/static/css/kizuna.css" in body
    assert '"maxAgeMs": 43200000' in body
    assert "kizuna-pages" in body


def test_offline_page_needs_no_login_and_holds_no_user_data(client):
    response = client.get(reverse("offline"))
    assert response.status_code == 200
    assert "オフラインです" in response.content.decode()


def test_pages_link_the_manifest_and_load_htmx_from_our_own_static_files(net, client):
    client.force_login(net.nurse)
    body = client.get(reverse("home")).content.decode()
    assert 'rel="manifest" href="/manifest.webmanifest"' in body
    assert "/static/django_htmx/htmx-2.min.js" in body
    assert '"includeIndicatorStyles": false' in body
    assert "https://" not in body  # no CDN


def test_logout_is_a_post_form_with_an_id_for_the_cache_clearing_script(net, client):
    client.force_login(net.nurse)
    body = client.get(reverse("home")).content.decode()
    assert re.search(r'<form id="logout-form" action="/logout/" method="post">', body)


def test_language_switch_shows_english_labels(net, client):
    client.force_login(net.nurse)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    body = client.get(reverse("patient-detail", args=[net.patient.pk])).content.decode()
    assert '<html lang="en">' in body
    assert "Care team" in body
    assert "Visiting nurse" in body
    assert "April 1, 1940" in body


def test_server_error_page_renders_without_a_request():
    html = get_template("500.html").render()
    assert "サーバーでエラーが発生しました" in html


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_catalog_entry_is_translated(lang):
    text = (LOCALE / lang / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    entries = [e for e in text.split("\n\n")[1:] if "msgid" in e and not e.startswith("#~")]
    untranslated = [
        e for e in entries if re.search(r'^msgstr(\[\d\])? ""$', e, re.M) and '\n"' not in e
    ]
    fuzzy = [e for e in entries if "#, fuzzy" in e]
    assert untranslated == []
    assert fuzzy == []


def test_service_worker_shows_pushes_and_opens_the_notices_page(client):
    body = client.get("/sw.js").content.decode()
    assert 'addEventListener("push"' in body
    assert "showNotification(" in body
    assert 'addEventListener("notificationclick"' in body
    assert "openWindow(" in body
