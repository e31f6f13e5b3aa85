"""The organizer's edit forms on the conference page: title, invitees, agenda, cancelling a
series; bad input comes back on the page with 400, an invitee gets 403."""

from __future__ import annotations

import pytest
from django.test import Client

from conferences import selectors
from conferences.models import AgendaItem, Conference, Invitee
from notifications.models import Notice
from tests.conferences.conftest import soon

pytestmark = pytest.mark.django_db


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_organizer_sees_the_edit_forms_and_an_invitee_does_not(net, schedule):
    conference = schedule()
    page = as_user(net.primary).get(f"/conferences/{conference.pk}/").content.decode()
    assert "会議の編集(主催者)" in page
    assert f'<option value="{net.secondary.pk}">' in page  # a network member not yet invited
    invitee = as_user(net.nurse).get(f"/conferences/{conference.pk}/").content.decode()
    assert "会議の編集(主催者)" not in invitee


def test_the_title_changes_from_the_page(net, schedule):
    conference = schedule()
    response = as_user(net.primary).post(
        f"/conferences/{conference.pk}/edit/", {"title": "新しい件名"}
    )
    assert response.status_code == 302
    assert Conference.objects.get(pk=conference.pk).title == "新しい件名"
    bad = as_user(net.primary).post(f"/conferences/{conference.pk}/edit/", {"title": ""})
    assert bad.status_code == 400
    assert "件名を200文字以内" in bad.content.decode()


def test_invitees_are_added_and_removed_from_the_page(net, schedule):
    conference = schedule(agenda=[])
    client = as_user(net.primary)
    response = client.post(
        f"/conferences/{conference.pk}/invitees/",
        {"add": [net.secondary.pk], "remove": [net.pharmacist.pk]},
    )
    assert response.status_code == 302
    assert set(Invitee.objects.filter(conference=conference).values_list("user_id", flat=True)) == {
        net.nurse.pk,
        net.secondary.pk,
    }
    assert as_user(net.pharmacist).get(f"/conferences/{conference.pk}/").status_code == 404
    outside = client.post(f"/conferences/{conference.pk}/invitees/", {"add": [net.stranger.pk]})
    assert outside.status_code == 400
    assert "ネットワーク外" in outside.content.decode()


def test_the_agenda_is_edited_from_the_page(net, schedule):
    conference = schedule()
    item = AgendaItem.objects.get(conference=conference)
    client = as_user(net.primary)
    url = f"/conferences/{conference.pk}/agenda/{item.pk}/"
    assert client.post(url, {"question": "服薬管理", "presenter": net.nurse.pk}).status_code == 302
    assert AgendaItem.objects.get(pk=item.pk).question == "服薬管理"
    assert client.post(url, {"remove": "1"}).status_code == 302
    assert not AgendaItem.objects.filter(conference=conference).exists()
    added = client.post(
        f"/conferences/{conference.pk}/agenda/",
        {"patient": net.patient.pk, "presenter": net.primary.pk, "question": "再検討"},
    )
    assert added.status_code == 302
    assert AgendaItem.objects.get(conference=conference).question == "再検討"


def test_an_invitee_may_not_edit(net, schedule):
    conference = schedule()
    response = as_user(net.nurse).post(f"/conferences/{conference.pk}/edit/", {"title": "x"})
    assert response.status_code == 403
    assert Conference.objects.get(pk=conference.pk).title == "12月の事例検討会"


def test_a_series_is_cancelled_from_an_occurrence_on_from_the_page(net, schedule):
    conference = schedule(starts_at=soon(60 * 24 * 3), recurrence_rule="FREQ=WEEKLY;COUNT=4")
    second = selectors.occurrence_list(conference, after=conference.starts_at)[1]
    response = as_user(net.primary).post(
        f"/conferences/{conference.pk}/cancel-series/",
        {"occurrence": second.key_iso, "scope": "from"},
    )
    assert response.status_code == 302
    left = selectors.occurrence_list(conference, after=conference.starts_at)
    assert [o.key for o in left] == [conference.starts_at]
    assert Notice.objects.filter(kind="conference.cancelled", recipient=net.nurse).count() == 1
