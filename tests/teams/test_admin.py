"""The admin pages of people, organizations, networks and capabilities open for staff."""

from __future__ import annotations

import pytest
from django.urls import reverse

from teams.models import Capability
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("model", ["user", "organization", "network", "capability"])
def test_changelist_and_change_pages_open(net, admin_client_, model):
    assert admin_client_.get(reverse(f"admin:teams_{model}_changelist")).status_code == 200
    obj = {
        "user": net.coordinator,
        "organization": net.lead_clinic,
        "network": net.lead_clinic.networks.get(),
        "capability": Capability.objects.get_or_create(code="palliative_care")[0],
    }[model]
    response = admin_client_.get(reverse(f"admin:teams_{model}_change", args=[obj.pk]))
    assert response.status_code == 200


def test_organizations_filter_by_kind_and_capability(net, admin_client_):
    url = reverse("admin:teams_organization_changelist")
    response = admin_client_.get(url, {"kind": "pharmacy", "capabilities__id__exact": "1"})
    assert response.status_code == 200


def test_user_add_page_asks_for_the_profession(admin_client_):
    response = admin_client_.get(reverse("admin:teams_user_add"))
    assert b'name="profession"' in response.content
