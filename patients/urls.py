"""Web routes of the patients app: home, the patient page and its edit forms."""

from __future__ import annotations

from django.urls import include, path

from patients import views

urlpatterns = [
    path("", views.home, name="home"),
    path("referrals/", include("patients.referral_urls")),
    path("patients/<int:patient_id>/", views.patient_detail, name="patient-detail"),
    path("patients/<int:patient_id>/edit/", views.patient_edit, name="patient-edit"),
    path("patients/<int:patient_id>/handoff/", views.handoff_card, name="patient-handoff"),
    path("patients/<int:patient_id>/consent/", views.consent_page, name="patient-consent"),
    path(
        "patients/<int:patient_id>/consent/disclosures.csv",
        views.disclosures_csv,
        name="patient-disclosures-csv",
    ),
    path(
        "patients/<int:patient_id>/consent/record/",
        views.consent_record,
        name="patient-consent-record",
    ),
    path(
        "patients/<int:patient_id>/consent/organizations/",
        views.consent_change,
        name="patient-consent-change",
    ),
    path(
        "patients/<int:patient_id>/consent/withdraw/",
        views.consent_withdraw,
        name="patient-consent-withdraw",
    ),
    path("patients/<int:patient_id>/wishes/", views.wishes_section, name="patient-wishes"),
    path(
        "patients/<int:patient_id>/wishes/<str:kind>/edit/",
        views.wish_edit,
        name="patient-wish-edit",
    ),
    path(
        "patients/<int:patient_id>/records/<str:kind>/",
        views.record_section,
        name="patient-record-section",
    ),
    path(
        "patients/<int:patient_id>/records/<str:kind>/new/",
        views.record_create,
        name="patient-record-create",
    ),
    path(
        "patients/<int:patient_id>/records/<str:kind>/<int:item_id>/edit/",
        views.record_edit,
        name="patient-record-edit",
    ),
    path(
        "patients/<int:patient_id>/records/<str:kind>/<int:item_id>/delete/",
        views.record_delete,
        name="patient-record-delete",
    ),
]
