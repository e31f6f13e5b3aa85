"""The web pages render for the people who may see them, and give 404 to everyone else."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from patients import services
from patients.models import CareWish, RecordChange
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_home_asks_an_anonymous_visitor_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_in_japanese(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "ログイン" in body
    assert 'lang="ja"' in body
    assert "data-clear-patient-cache" in body


def test_home_lists_the_nurses_patients_with_her_role(net, client_as):
    response = client_as(net.nurse).get(reverse("home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert net.patient.name in body
    assert net.patient.name_kana in body
    assert "訪問看護師" in body
    assert "未閲覧" in body


def test_home_does_not_list_patients_of_other_teams(net, client_as):
    other = PatientFactory(name="別チーム 患者")
    response = client_as(net.nurse).get(reverse("home"))
    assert other.name not in response.content.decode()


def test_home_shows_nothing_to_an_outsider(net, client_as):
    response = client_as(net.outsider).get(reverse("home"))
    assert response.status_code == 200
    assert net.patient.name not in response.content.decode()


def test_home_audits_one_list_row_per_patient_shown(net, client_as):
    client_as(net.nurse).get(reverse("home"))
    rows = AuditEvent.objects.filter(actor_id=net.nurse.pk, action=AuditAction.LIST)
    assert [r.patient_id for r in rows] == [net.patient.pk]


def test_home_costs_the_same_queries_for_one_or_many_patients(
    net, client_as, django_assert_num_queries
):
    client = client_as(net.nurse)
    client.get(reverse("home"))  # warm the session and content types
    # ... and one for the header's bell (the unread notice count), one for the threads with
    # unread messages (messaging's 新着 card), one query for all, and one for my open requests.
    with django_assert_num_queries(12):
        client.get(reverse("home"))
    for n in range(5):
        patient = PatientFactory(name=f"追加 患者{n}", managing_organization=net.lead_clinic)
        ConsentFactory(patient=patient, recorded_by=net.primary)
        CareTeamMemberFactory(patient=patient, user=net.nurse)
    with django_assert_num_queries(12):
        response = client.get(reverse("home"))
    assert response.content.decode().count('class="card patient-card"') == 6


def test_home_shows_what_changed_since_my_last_visit(net, client_as):
    client = client_as(net.nurse)
    client.get(reverse("patient-detail", args=[net.patient.pk]))
    services.record_item_create(
        net.primary, net.patient.pk, kind="medications", data={"name": "アムロジピン錠"}
    )
    services.wish_set(net.secondary, net.patient.pk, kind="yellow", preference="中央病院へ")
    body = client.get(reverse("home")).content.decode()
    assert "前回の閲覧以降の変更 2件" in body
    assert "アムロジピン錠" in body
    assert "中央病院へ" in body


def test_my_own_changes_are_not_news_to_me(net, client_as):
    client = client_as(net.nurse)
    client.get(reverse("patient-detail", args=[net.patient.pk]))
    services.record_item_create(net.nurse, net.patient.pk, kind="problems", data={"name": "褥瘡"})
    body = client.get(reverse("home")).content.decode()
    assert "以降の変更はありません" in body


def test_home_with_a_bad_status_filter_shows_the_error_not_a_500(net, client_as):
    response = client_as(net.nurse).get(reverse("home"), {"status": "nonsense"})
    assert response.status_code == 400
    assert "状態が正しくありません" in response.content.decode()


def test_patient_page_renders_every_section_for_a_team_member(net, client_as):
    services.record_item_create(
        net.primary,
        net.patient.pk,
        kind="contacts",
        data={
            "name": "小林 一郎",
            "relationship": "長男",
            "phone": "090-1111-2222",
            "is_key_person": True,
        },
    )
    services.wish_set(net.primary, net.patient.pk, kind="green", preference="自宅で最期まで")
    response = client_as(net.pharmacist).get(reverse("patient-detail", args=[net.patient.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    for text in (
        net.patient.name,
        net.patient.name_kana,
        "病名・問題",
        "薬剤",
        "アレルギー",
        "医療機器",
        "緊急連絡先",
        "キーパーソン",
        "小林 一郎",
        "グリーンカード",
        "イエローカード",
        "自宅で最期まで",
        "ケアチーム",
        "主治医",
        "山田 太郎",
        "みどり在宅クリニック",
    ):
        assert text in body, text
    assert f'<section id="thread" data-patient-id="{net.patient.pk}">' in body
    assert response["Cache-Control"] == "private, no-store"


def test_patient_page_shows_the_date_of_birth_in_japanese(net, client_as):
    body = (
        client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk])).content.decode()
    )
    assert "1940年4月1日" in body


def test_patient_page_is_audited_as_a_read_of_the_patient(net, client_as):
    client_as(net.nurse).get(reverse("patient-detail", args=[net.patient.pk]))
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk,
        action=AuditAction.READ,
        patient_id=net.patient.pk,
        object_type="patients.patient",
    ).exists()


def test_patient_page_lists_changes_made_by_others_since_the_previous_visit(net, client_as):
    client = client_as(net.nurse)
    client.get(reverse("patient-detail", args=[net.patient.pk]))
    services.record_item_create(
        net.primary, net.patient.pk, kind="allergies", data={"substance": "ペニシリン"}
    )
    body = client.get(reverse("patient-detail", args=[net.patient.pk])).content.decode()
    assert "前回の閲覧" in body
    assert "ペニシリン(追加" in body


@pytest.mark.parametrize(
    "name",
    ["outsider", "stranger", "coordinator"],
)
def test_patient_page_is_not_found_for_people_off_the_team(net, client_as, name):
    response = client_as(getattr(net, name)).get(reverse("patient-detail", args=[net.patient.pk]))
    assert response.status_code == 404
    body = response.content.decode()
    assert "ページが見つかりません" in body
    assert net.patient.name not in body


def test_missing_patient_gives_the_same_not_found_page(net, client_as):
    response = client_as(net.nurse).get(reverse("patient-detail", args=[999999]))
    assert response.status_code == 404
    assert "ページが見つかりません" in response.content.decode()


@pytest.mark.parametrize(
    ("url_name", "args", "writes"),
    [
        ("patient-edit", [], True),
        ("patient-wishes", [], False),
        ("patient-wish-edit", ["yellow"], True),
        ("patient-record-section", ["problems"], False),
        ("patient-record-create", ["problems"], True),
    ],
)
def test_every_patient_subpage_is_not_found_for_an_outsider(net, client_as, url_name, args, writes):
    url = reverse(url_name, args=[net.patient.pk, *args])
    client = client_as(net.outsider)
    assert client.get(url).status_code == 404
    if writes:
        assert client.post(url, {"preference": "x", "name": "x"}).status_code == 404


def test_outsider_cannot_post_a_wish(net, client_as):
    url = reverse("patient-wish-edit", args=[net.patient.pk, "yellow"])
    client_as(net.outsider).post(url, {"preference": "別の病院"})
    assert not CareWish.objects.filter(patient=net.patient).exists()


def test_unknown_record_kind_is_not_found(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "secrets"])
    assert client_as(net.nurse).get(url).status_code == 404


def test_directory_lists_and_filters_organizations(net, client_as):
    client = client_as(net.nurse)
    body = client.get(reverse("directory")).content.decode()
    assert "ひまわり訪問看護ステーション" in body
    assert "あおば薬局" in body
    body = client.get(reverse("directory"), {"kind": "pharmacy"}).content.decode()
    assert "あおば薬局" in body
    assert "ひまわり訪問看護ステーション" not in body


def test_directory_with_htmx_returns_only_the_results(net, client_as):
    response = client_as(net.nurse).get(
        reverse("directory"),
        {"q": "薬局"},
        headers={"HX-Request": "true", "HX-Target": "directory-results"},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith("<section")
    assert "あおば薬局" in body


def test_directory_with_an_unknown_kind_shows_the_error_next_to_the_field(net, client_as):
    response = client_as(net.nurse).get(reverse("directory"), {"kind": "castle"})
    assert response.status_code == 400
    assert 'id="dir_kind_error"' in response.content.decode()


def test_audit_link_is_shown_only_to_organization_admins(net, client_as):
    from teams.models import Membership

    client = client_as(net.nurse)
    assert "監査ログ" not in client.get(reverse("home")).content.decode()
    Membership.objects.filter(user=net.nurse).update(is_admin=True)
    assert "監査ログ" in client.get(reverse("home")).content.decode()


def test_unknown_url_gives_the_styled_not_found_page(net, client_as, settings):
    settings.DEBUG = False
    response = client_as(net.nurse).get("/no-such-page/")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.content.decode()


def test_record_changes_come_from_the_web_form(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "problems"])
    client_as(net.nurse).post(url, {"name": "誤嚥性肺炎", "is_active": "on"})
    assert RecordChange.objects.filter(patient=net.patient, item_type="problems").count() == 1


def test_the_patient_page_shows_edit_buttons_only_for_what_the_reader_may_do(net, client_as):
    def links(user) -> str:
        response = client_as(user).get(reverse("patient-detail", args=[net.patient.pk]))
        assert response.status_code == 200
        return response.content.decode()

    pk = net.patient.pk
    medications = reverse("patient-record-create", args=[pk, "medications"])
    problems = reverse("patient-record-create", args=[pk, "problems"])
    wish = reverse("patient-wish-edit", args=[pk, "green"])
    header = reverse("patient-edit", args=[pk])

    pharmacist = links(net.pharmacist)  # keeps the medication list; not the wishes
    assert medications in pharmacist
    assert problems in pharmacist
    assert header in pharmacist
    assert wish not in pharmacist
    nurse = links(net.nurse)  # the record and the wishes; not the medication list
    assert medications not in nurse
    assert problems in nurse
    assert wish in nurse
