"""The audit page and its CSV export: who may read which rows, filters, paging, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.sites import site as admin_site
from django.contrib.auth.signals import user_logged_in
from django.test import Client, RequestFactory
from django.urls import reverse

from audit import receivers
from audit.models import AuditEvent
from audit.services import audit_record
from teams.models import User
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
LIST = "/audit/"
EXPORT = "/audit/export.csv"


def client_for(user) -> Client:
    client = Client()
    # These tests count the rows they write themselves; signing in writes its own row
    # (tests/audit/test_ways_in.py), left out here.
    user_logged_in.disconnect(dispatch_uid="kz-audit-sign-in")
    try:
        client.force_login(user)
    finally:
        user_logged_in.connect(receivers.on_logged_in, dispatch_uid="kz-audit-sign-in")
    return client


def record_at(when: dt.datetime, actor, action="read", **kwargs) -> AuditEvent:
    # `at` is auto_now_add and rows cannot be updated, so the clock is set while writing.
    with mock.patch("django.utils.timezone.now", return_value=when):
        return audit_record(actor, action, **kwargs)


def rows_shown(response) -> list[AuditEvent]:
    assert response.status_code == 200
    return list(response.context["page_obj"].object_list)


def test_urls_are_named_in_the_audit_namespace():
    assert reverse("audit:list") == LIST
    assert reverse("audit:export") == EXPORT


def test_administrator_sees_rows_of_their_organizations_members_only(net, org_admin):
    own = audit_record(net.primary, "read", patient=net.patient)
    colleague = audit_record(net.outsider, "list")
    other_org = audit_record(net.nurse, "read", patient=net.patient)
    other_network = audit_record(net.stranger, "read")

    ids = {e.pk for e in rows_shown(client_for(org_admin).get(LIST))}

    assert own.pk in ids
    assert colleague.pk in ids
    assert other_org.pk not in ids
    assert other_network.pk not in ids


def test_administrator_of_two_organizations_sees_a_shared_members_row_once(net, org_admin):
    MembershipFactory(user=org_admin, organization=net.clinic, is_admin=True)
    MembershipFactory(user=net.primary, organization=net.clinic)
    row = audit_record(net.primary, "read", patient=net.patient)

    shown = rows_shown(client_for(org_admin).get(LIST))

    assert [e.pk for e in shown].count(row.pk) == 1


def test_inactive_administrator_membership_gives_no_access(net):
    user = UserFactory()
    MembershipFactory(user=user, organization=net.lead_clinic, is_admin=True, is_active=False)

    assert client_for(user).get(LIST).status_code == 403


def test_staff_see_every_row(net):
    staff = UserFactory(is_staff=True)
    rows = [audit_record(u, "read") for u in (net.primary, net.nurse, net.stranger)]

    ids = {e.pk for e in rows_shown(client_for(staff).get(LIST))}

    assert {r.pk for r in rows} <= ids


def test_team_member_who_is_not_an_administrator_is_refused(net):
    audit_record(net.primary, "read", patient=net.patient)

    assert client_for(net.primary).get(LIST).status_code == 403
    assert client_for(net.primary).get(EXPORT).status_code == 403


def test_anonymous_visitor_is_sent_to_the_login_page(net):
    response = Client().get(LIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_filter_by_patient_shows_only_that_patients_rows(net, org_admin):
    mine = audit_record(net.primary, "read", patient=net.patient)
    audit_record(net.primary, "read", patient=None)

    shown = rows_shown(client_for(org_admin).get(LIST, {"patient": net.patient.pk}))

    assert [e.pk for e in shown] == [mine.pk]


def test_filter_by_person_shows_only_that_actors_rows(net, org_admin):
    audit_record(net.primary, "read")
    theirs = audit_record(net.outsider, "read")

    shown = rows_shown(client_for(org_admin).get(LIST, {"actor": net.outsider.pk}))

    assert [e.pk for e in shown] == [theirs.pk]


def test_filter_by_person_outside_the_administrators_organizations_shows_nothing(net, org_admin):
    audit_record(net.nurse, "read")

    assert rows_shown(client_for(org_admin).get(LIST, {"actor": net.nurse.pk})) == []


def test_filter_by_period_uses_whole_days_in_tokyo(net, org_admin):
    # 2025-03-01 00:00 in Tokyo is 2025-02-28 15:00 UTC: the day boundary is Tokyo's.
    before = record_at(dt.datetime(2025, 2, 28, 23, 59, 59, tzinfo=TOKYO), net.primary)
    first = record_at(dt.datetime(2025, 3, 1, 0, 0, 0, tzinfo=TOKYO), net.primary)
    last = record_at(dt.datetime(2025, 3, 2, 23, 59, 59, 999999, tzinfo=TOKYO), net.primary)
    after = record_at(dt.datetime(2025, 3, 3, 0, 0, 0, tzinfo=TOKYO), net.primary)

    shown = rows_shown(
        client_for(org_admin).get(LIST, {"date_from": "2025-03-01", "date_to": "2025-03-02"})
    )

    ids = [e.pk for e in shown]
    assert ids == [last.pk, first.pk]
    assert before.pk not in ids
    assert after.pk not in ids


def test_filter_by_period_with_one_end_only(net, org_admin):
    old = record_at(dt.datetime(2024, 1, 10, 12, tzinfo=TOKYO), net.primary)
    new = record_at(dt.datetime(2025, 1, 10, 12, tzinfo=TOKYO), net.primary)
    client = client_for(org_admin)

    assert [e.pk for e in rows_shown(client.get(LIST, {"date_from": "2025-01-01"}))] == [new.pk]
    assert [e.pk for e in rows_shown(client.get(LIST, {"date_to": "2024-12-31"}))] == [old.pk]


def test_filter_by_action(net, org_admin):
    audit_record(net.primary, "read")
    created = audit_record(net.primary, "create")

    shown = rows_shown(client_for(org_admin).get(LIST, {"action": "create"}))

    assert [e.pk for e in shown] == [created.pk]


def test_page_holds_fifty_rows_newest_first_and_the_next_page_the_rest(net, org_admin):
    AuditEvent.objects.bulk_create(
        [AuditEvent(actor_id=net.primary.pk, action="read", detail=str(i)) for i in range(55)]
    )
    client = client_for(org_admin)

    first = rows_shown(client.get(LIST))
    second = rows_shown(client.get(LIST, {"page": 2}))

    assert len(first) == 50
    assert len(second) == 5
    assert first[0].pk > first[-1].pk > second[0].pk


def test_page_number_that_is_not_a_number_shows_the_first_page(net, org_admin):
    audit_record(net.primary, "read")

    response = client_for(org_admin).get(LIST, {"page": "abc"})

    assert response.status_code == 200
    assert response.context["page_obj"].number == 1


def test_list_page_runs_a_fixed_number_of_queries(net, org_admin, django_assert_num_queries):
    for user in (net.primary, net.outsider, net.coordinator):
        for _ in range(5):
            audit_record(user, "read", patient=net.patient)
    client = client_for(org_admin)

    # session, user, may-read check, count, the page's rows with their actors, and the base
    # layout's own may-read check for the navigation link and the bell's unread count
    # (config.context_processors)
    with django_assert_num_queries(6):
        response = client.get(LIST)

    assert len(response.context["page_obj"].object_list) == 15


def test_page_shows_actor_name_and_action_label(net, org_admin):
    audit_record(net.primary, "read", patient=net.patient, detail="カルテ閲覧")

    body = client_for(org_admin).get(LIST).content.decode()

    assert "山田 太郎" in body
    assert "閲覧" in body
    assert "カルテ閲覧" in body


def test_csv_export_has_bom_header_and_the_filtered_visible_rows(net, org_admin):
    record_at(
        dt.datetime(2025, 4, 1, 9, 30, tzinfo=TOKYO),
        net.primary,
        "update",
        patient=net.patient,
        detail='=HYPERLINK("x")',
    )
    audit_record(net.primary, "read", patient=net.patient)
    audit_record(net.nurse, "update", patient=net.patient)

    response = client_for(org_admin).get(EXPORT, {"action": "update"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["日時", "操作者ID", "操作者", "操作", "患者ID"]
    assert rows[1:] == [
        [
            "2025-04-01 09:30:00",
            str(net.primary.pk),
            "山田 太郎",
            "更新",
            str(net.patient.pk),
            "",
            "",
            '\'=HYPERLINK("x")',
            "",
            "",
        ]
    ]


def test_csv_export_writes_an_export_audit_row_that_it_does_not_list(net, org_admin):
    audit_record(net.primary, "read", patient=net.patient)

    response = client_for(org_admin).get(EXPORT, {"patient": net.patient.pk})

    export = AuditEvent.objects.get(action="export")
    assert export.actor_id == org_admin.pk
    assert export.patient_id == net.patient.pk
    assert "rows=1" in export.detail
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2025-13-40"}, "日付はYYYY-MM-DDの形式で入力してください。"),
        ({"date_to": "昨日"}, "日付はYYYY-MM-DDの形式で入力してください。"),
        (
            {"date_from": "2025-03-02", "date_to": "2025-03-01"},
            "開始日は終了日より前の日付にしてください。",
        ),
        ({"patient": "abc"}, "IDは半角数字で入力してください。"),
        ({"actor": "1.5"}, "IDは半角数字で入力してください。"),
        ({"actor": "0"}, "IDは1以上の数字で入力してください。"),
        ({"patient": "99999999999999999999999"}, "IDが大きすぎます。"),
        ({"action": "drop table"}, "操作の種類が正しくありません。"),
    ],
)
def test_bad_filter_input_shows_an_error_message_not_a_server_error(
    net, org_admin, params, message
):
    audit_record(net.primary, "read")
    client = client_for(org_admin)

    page = client.get(LIST, params)
    export = client.get(EXPORT, params)

    assert page.status_code == 400
    assert message in page.content.decode()
    assert page.context["page_obj"] is None
    assert export.status_code == 400
    assert message in export.content.decode()
    assert not AuditEvent.objects.filter(action="export").exists()


def test_admin_site_offers_no_add_change_or_delete_of_audit_rows(net):
    superuser = User.objects.get(pk=UserFactory(is_staff=True, is_superuser=True).pk)
    request = RequestFactory().get("/admin/")
    request.user = superuser
    model_admin = admin_site._registry[AuditEvent]
    row = audit_record(net.primary, "read")

    assert model_admin.has_view_permission(request, row)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert client_for(superuser).get(f"/admin/audit/auditevent/{row.pk}/change/").status_code == 200
