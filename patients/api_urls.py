"""API routes of this app, mounted under /api/v1/.

Every patient-scoped route names its patient `patient_id`: the access-matrix test finds the
routes by that name.
"""

from __future__ import annotations

from django.urls import URLPattern, path

from patients import api, referral_api
from patients.models import RECORD_KINDS

urlpatterns: list[URLPattern] = [
    path("patients/", api.PatientListView.as_view(), name="api-patient-list"),
    path("patients/<int:patient_id>/", api.PatientDetailView.as_view(), name="api-patient-detail"),
    path(
        "patients/<int:patient_id>/care-team/",
        api.CareTeamView.as_view(),
        name="api-patient-care-team",
    ),
    path(
        "patients/<int:patient_id>/care-team/primary/",
        api.CareTeamPrimaryView.as_view(),
        name="api-patient-care-team-primary",
    ),
    path(
        "patients/<int:patient_id>/care-team/<int:member_id>/",
        api.CareTeamMemberView.as_view(),
        name="api-patient-care-team-member",
    ),
    path(
        "patients/<int:patient_id>/consent/",
        api.ConsentView.as_view(),
        name="api-patient-consent",
    ),
    path(
        "patients/<int:patient_id>/disclosures/",
        api.DisclosureListView.as_view(),
        name="api-patient-disclosures",
    ),
    path(
        "patients/<int:patient_id>/wishes/",
        api.WishesView.as_view(),
        name="api-patient-wishes",
    ),
    path(
        "patients/<int:patient_id>/history/",
        api.RecordHistoryView.as_view(),
        name="api-patient-history",
    ),
    path(
        "patients/<int:patient_id>/break-glass/",
        api.BreakGlassView.as_view(),
        name="api-patient-break-glass",
    ),
    path("referrals/", referral_api.ReferralListView.as_view(), name="api-referral-list"),
    path(
        "referrals/<int:referral_id>/",
        referral_api.ReferralDetailView.as_view(),
        name="api-referral-detail",
    ),
    path(
        "referrals/<int:referral_id>/answer/",
        referral_api.ReferralAnswerView.as_view(),
        name="api-referral-answer",
    ),
]

for _kind in RECORD_KINDS:
    _list_view, _detail_view = api.record_views(_kind)
    urlpatterns += [
        path(
            f"patients/<int:patient_id>/{_kind}/",
            _list_view.as_view(),
            name=f"api-patient-{_kind}",
        ),
        path(
            f"patients/<int:patient_id>/{_kind}/<int:item_id>/",
            _detail_view.as_view(),
            name=f"api-patient-{_kind}-item",
        ),
    ]
