"""The edit forms call the services, and show every refusal next to its field, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from patients import services
from patients.models import CareWish, Medication, Patient, Problem, RecordChange
from teams.models import OrganizationKind
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def test_the_add_form_opens_inside_its_section_with_htmx(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "problems"])
    response = client_as(net.nurse).get(url, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="sec-problems"')
    assert 'id="id_problems_name"' in body
    assert "<html" not in body


def test_the_add_form_is_a_full_page_without_javascript(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "problems"])
    body = client_as(net.nurse).get(url).content.decode()
    assert "<html" in body
    assert 'id="id_problems_name"' in body


def test_a_saved_item_without_javascript_redirects_to_the_section(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "problems"])
    response = client_as(net.nurse).post(url, {"name": "慢性心不全", "is_active": "on"})
    assert response.status_code == 302
    assert (
        response["Location"] == reverse("patient-detail", args=[net.patient.pk]) + "#sec-problems"
    )
    problem = Problem.objects.get(patient=net.patient)
    assert problem.name == "慢性心不全"
    assert problem.updated_by == net.nurse


def test_a_saved_item_with_htmx_returns_the_updated_section(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "medications"])
    # The pharmacist: the nurse may not edit the medication list (patients.access.POLICY).
    response = client_as(net.pharmacist).post(
        url, {"name": "フロセミド錠", "dose": "20mg 朝"}, headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="sec-medications"')
    assert "フロセミド錠" in body
    assert '<form method="post" action="' + url not in body


def test_a_missing_required_field_shows_the_error_next_to_it(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "problems"])
    response = client_as(net.nurse).post(url, {"name": ""}, headers=HTMX)
    body = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_problems_name_error"' in body
    assert 'aria-describedby="id_problems_name_error"' in body
    assert 'aria-invalid="true"' in body
    assert not Problem.objects.exists()


def test_an_end_date_before_the_start_shows_the_error_next_to_the_end_date(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "medications"])
    response = client_as(net.pharmacist).post(
        url, {"name": "フロセミド錠", "start_date": "2026-05-10", "end_date": "2026-05-01"}
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_medications_end_date_error"' in body
    assert "<html" in body  # without JavaScript the whole page comes back with the form
    assert not Medication.objects.exists()


def test_an_impossible_date_is_a_field_error_not_a_500(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "devices"])
    response = client_as(net.nurse).post(url, {"name": "在宅酸素", "since": "2026-02-30"})
    assert response.status_code == 400
    assert 'id="id_devices_since_error"' in response.content.decode()


def test_an_unknown_severity_is_a_field_error(net, client_as):
    url = reverse("patient-record-create", args=[net.patient.pk, "allergies"])
    response = client_as(net.nurse).post(url, {"substance": "卵", "severity": "deadly"})
    assert response.status_code == 400
    assert 'id="id_allergies_severity_error"' in response.content.decode()


def test_editing_an_item_updates_it_and_records_the_change(net, client_as):
    item = services.record_item_create(
        net.primary,
        net.patient.pk,
        kind="contacts",
        data={"name": "小林 一郎", "relationship": "長男", "phone": "090-1111-2222"},
    )
    url = reverse("patient-record-edit", args=[net.patient.pk, "contacts", item.pk])
    client = client_as(net.nurse)
    form_html = client.get(url, headers=HTMX).content.decode()
    assert 'value="小林 一郎"' in form_html
    response = client.post(
        url,
        {
            "name": "小林 一郎",
            "relationship": "長男",
            "phone": "090-3333-4444",
            "is_key_person": "on",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "090-3333-4444" in response.content.decode()
    assert "キーパーソン" in response.content.decode()
    assert RecordChange.objects.filter(item_id=item.pk, action="update").count() == 1


def test_editing_an_item_of_another_patient_is_not_found(net, client_as):
    item = services.record_item_create(
        net.primary, net.patient.pk, kind="problems", data={"name": "褥瘡"}
    )
    url = reverse("patient-record-edit", args=[net.patient.pk, "problems", item.pk + 1000])
    assert client_as(net.nurse).get(url).status_code == 404


def test_deleting_an_item_keeps_its_history(net, client_as):
    item = services.record_item_create(
        net.primary, net.patient.pk, kind="problems", data={"name": "褥瘡"}
    )
    url = reverse("patient-record-delete", args=[net.patient.pk, "problems", item.pk])
    response = client_as(net.nurse).post(url, headers=HTMX)
    assert response.status_code == 200
    assert "褥瘡" not in response.content.decode()
    assert not Problem.objects.filter(pk=item.pk).exists()
    assert RecordChange.objects.filter(item_id=item.pk, action="delete").exists()


def test_setting_the_yellow_card_adds_a_version_and_an_audit_row(net, client_as):
    hospital = OrganizationFactory(name="中央総合病院", kind=OrganizationKind.HOSPITAL)
    services.wish_set(net.primary, net.patient.pk, kind="yellow", preference="さくら病院")
    url = reverse("patient-wish-edit", args=[net.patient.pk, "yellow"])
    client = client_as(net.nurse)
    assert 'value="さくら病院"' in client.get(url, headers=HTMX).content.decode()
    response = client.post(
        url, {"preference": "中央総合病院へ", "hospital": hospital.pk, "note": ""}, headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "中央総合病院へ" in body
    assert "さくら病院" in body  # the old version stays in the history
    assert CareWish.objects.filter(patient=net.patient, kind="yellow").count() == 2
    assert AuditEvent.objects.filter(
        actor_id=net.nurse.pk, action=AuditAction.CREATE, object_type="patients.carewish"
    ).exists()


def test_a_blank_wish_shows_the_error_next_to_the_preference(net, client_as):
    url = reverse("patient-wish-edit", args=[net.patient.pk, "green"])
    response = client_as(net.nurse).post(url, {"preference": "  "}, headers=HTMX)
    assert response.status_code == 422
    assert 'id="id_wish_preference_error"' in response.content.decode()
    assert not CareWish.objects.exists()


def test_a_hospital_not_in_the_list_is_a_field_error(net, client_as):
    url = reverse("patient-wish-edit", args=[net.patient.pk, "yellow"])
    response = client_as(net.nurse).post(url, {"preference": "入院", "hospital": "999999"})
    assert response.status_code == 400
    assert 'id="id_wish_hospital_error"' in response.content.decode()


def test_an_unknown_wish_kind_is_not_found(net, client_as):
    url = reverse("patient-wish-edit", args=[net.patient.pk, "purple"])
    assert client_as(net.nurse).post(url, {"preference": "x"}).status_code == 404


def test_editing_the_patient_changes_the_care_level(net, client_as):
    url = reverse("patient-edit", args=[net.patient.pk])
    client = client_as(net.nurse)
    data = {
        "name": net.patient.name,
        "name_kana": net.patient.name_kana,
        "date_of_birth": "1940-04-01",
        "sex": "female",
        "care_level": "care_4",
        "status": "at_home",
        "address": "",
        "phone": "",
    }
    response = client.post(url, data, headers=HTMX)
    assert response.status_code == 200
    assert "要介護4" in response.content.decode()
    assert Patient.objects.get(pk=net.patient.pk).care_level == "care_4"


def test_a_future_date_of_birth_is_refused_next_to_the_field(net, client_as):
    url = reverse("patient-edit", args=[net.patient.pk])
    data = {
        "name": net.patient.name,
        "name_kana": net.patient.name_kana,
        "date_of_birth": "2999-01-01",
        "sex": "female",
        "care_level": "care_4",
        "status": "at_home",
    }
    response = client_as(net.nurse).post(url, data, headers=HTMX)
    assert response.status_code == 422
    assert 'id="id_patient_date_of_birth_error"' in response.content.decode()
    assert Patient.objects.get(pk=net.patient.pk).care_level != "care_4"


def test_cancelling_the_patient_form_returns_the_header(net, client_as):
    url = reverse("patient-edit", args=[net.patient.pk]) + "?cancel=1"
    body = client_as(net.nurse).get(url, headers=HTMX).content.decode()
    assert body.lstrip().startswith('<section id="patient-header"')
    assert "<form" not in body
