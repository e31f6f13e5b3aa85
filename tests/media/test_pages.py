"""The patient page's photos (gallery, composer controls) and the wound timeline page."""

from __future__ import annotations

import uuid

import pytest

from messaging import services as messaging_services
from tests.media import photos

pytestmark = pytest.mark.django_db


def _posted(net, upload, api_as, **fields):
    photo = upload(net.nurse, photos.jpeg(**fields.pop("image", {})), **fields).json()["id"]
    book = messaging_services.contact_book_ensure(net.patient)
    api_as(net.nurse).post(
        f"/api/v1/threads/{book.pk}/messages/",
        {"client_id": str(uuid.uuid4()), "body": "写真です。", "attachments": [photo]},
        format="json",
    )
    return photo


def test_the_patient_page_shows_the_gallery_and_the_photo_buttons(net, upload, api_as, client):
    photo = _posted(net, upload, api_as, body_site="sacrum", caption="発赤")
    client.force_login(net.primary)
    page = client.get(f"/patients/{net.patient.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="sec-photos"' in html
    assert f"/api/v1/attachments/{photo}/thumb/" in html
    assert f"/patients/{net.patient.pk}/photos/sacrum/" in html
    assert 'id="photo-take"' in html
    assert 'id="photo-pick"' in html
    assert 'id="camera-dialog"' in html


def test_the_wound_timeline_puts_two_photos_side_by_side(net, upload, api_as, client):
    early = _posted(net, upload, api_as, body_site="sacrum", image={"taken": "2026:11:01 09:00:00"})
    late = _posted(net, upload, api_as, body_site="sacrum", image={"taken": "2026:11:20 09:00:00"})
    _posted(net, upload, api_as, body_site="left_heel")
    client.force_login(net.primary)
    url = f"/patients/{net.patient.pk}/photos/sacrum/"
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert html.index(early) < html.index(late)
    assert 'id="compare"' not in html
    compared = client.get(url, {"pick": [late, early]}).content.decode()
    section = compared[compared.index('id="compare"') :]
    assert section.index(early) < section.index(late)


def test_an_outsider_gets_404_for_the_wound_timeline(net, client):
    client.force_login(net.outsider)
    assert client.get(f"/patients/{net.patient.pk}/photos/sacrum/").status_code == 404


def test_an_unknown_body_site_gets_404(net, client):
    client.force_login(net.primary)
    assert client.get(f"/patients/{net.patient.pk}/photos/elbow/").status_code == 404
