"""The directory API: search, detail, create and update, with who may write."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditAction, AuditEvent
from teams.models import Network, Organization, OrganizationKind
from tests.factories import OrganizationFactory
from tests.teams.factories import org_with, staff_user

pytestmark = pytest.mark.django_db

LIST = reverse("api-organizations")


def detail(org: Organization | int) -> str:
    pk = org if isinstance(org, int) else org.pk
    return reverse("api-organization", args=[pk])


def names(response) -> list[str]:
    return [o["name"] for o in response.json()["results"]]


# --- search ---------------------------------------------------------------------------------


def test_any_signed_in_user_lists_the_whole_directory(net, api_as):
    response = api_as(net.stranger).get(LIST)
    assert response.status_code == 200
    assert response.json()["count"] == 5
    assert "遠方クリニック" in names(response)


def test_anonymous_user_may_not_list_the_directory(net, api):
    assert api.get(LIST).status_code in (401, 403)


def test_search_by_kind_returns_only_that_kind(net, api_as):
    response = api_as(net.nurse).get(LIST, {"kind": OrganizationKind.PHARMACY})
    assert names(response) == ["あおば薬局"]


def test_search_by_capabilities_returns_organizations_having_all_of_them(net, api_as):
    org_with("response_24h", "palliative_care", name="両方ある診療所")
    org_with("response_24h", name="24時間だけの診療所")
    org_with("palliative_care", name="緩和ケアだけの診療所")
    response = api_as(net.nurse).get(LIST, {"capability": ["response_24h", "palliative_care"]})
    assert names(response) == ["両方ある診療所"]


def test_search_by_one_capability_lists_each_organization_once(net, api_as):
    org_with("response_24h", "palliative_care", "home_visits", name="多機能診療所")
    response = api_as(net.nurse).get(LIST, {"capability": "response_24h"})
    assert names(response) == ["多機能診療所"]
    assert response.json()["count"] == 1


def test_search_by_area_matches_part_of_the_area(net, api_as):
    OrganizationFactory(name="北町薬局", area="東京都北区王子")
    response = api_as(net.nurse).get(LIST, {"area": "北区"})
    assert names(response) == ["北町薬局"]


def test_search_by_q_matches_name_or_kana(net, api_as):
    OrganizationFactory(name="青空病院", name_kana="あおぞらびょういん")
    assert names(api_as(net.nurse).get(LIST, {"q": "青空"})) == ["青空病院"]
    assert names(api_as(net.nurse).get(LIST, {"q": "あおぞら"})) == ["青空病院"]


def test_filters_combine(net, api_as):
    org_with("response_24h", name="中央24時間薬局", kind=OrganizationKind.PHARMACY, area="中央区")
    org_with("response_24h", name="北24時間薬局", kind=OrganizationKind.PHARMACY, area="北区")
    org_with("response_24h", name="中央24時間診療所", kind=OrganizationKind.CLINIC, area="中央区")
    response = api_as(net.nurse).get(
        LIST, {"kind": "pharmacy", "capability": "response_24h", "area": "中央"}
    )
    assert names(response) == ["中央24時間薬局"]


def test_capabilities_are_shown_as_codes_with_labels(net, api_as):
    org = org_with("response_24h", "end_of_life", name="看取り診療所")
    body = api_as(net.nurse).get(detail(org)).json()
    assert body["capabilities"] == [
        {"code": "end_of_life", "label": "看取り"},
        {"code": "response_24h", "label": "24時間対応"},
    ]
    assert body["kind_label"] == "診療所"
    assert body["networks"] == []


def test_detail_shows_the_networks_of_the_organization(net, api_as):
    body = api_as(net.nurse).get(detail(net.pharmacy)).json()
    assert [n["name"] for n in body["networks"]] == ["中央区在宅ネットワーク"]


def test_unknown_kind_or_capability_in_a_search_is_a_400_with_field_errors(net, api_as):
    response = api_as(net.nurse).get(LIST, {"kind": "spaceport", "capability": "teleport"})
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"kind", "capability"}


def test_a_nul_character_in_a_search_is_a_400_not_a_500(net, api_as):
    response = api_as(net.nurse).get(LIST, {"q": "a\x00b"})
    assert response.status_code == 400
    assert "q" in response.json()["error"]["fields"]


def test_missing_organization_is_a_404(net, api_as):
    response = api_as(net.nurse).get(detail(999999))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("extra", [1, 10])
def test_directory_list_costs_the_same_queries_for_any_length(
    net, api_as, django_assert_num_queries, extra
):
    for i in range(extra):
        org_with("response_24h", "home_visits", name=f"追加診療所{i}")
    client = api_as(net.nurse)
    # count, page, capabilities, networks
    with django_assert_num_queries(4):
        response = client.get(LIST)
    assert response.json()["count"] == 5 + extra


# --- create ---------------------------------------------------------------------------------

NEW = {
    "name": "こもれび訪問看護ステーション",
    "name_kana": "こもれびほうもんかんごすてーしょん",
    "kind": "nursing_station",
    "capabilities": ["response_24h", "end_of_life"],
    "area": "中央区",
    "phone": "03-1234-5678",
}


def test_coordinator_adds_an_organization_to_their_network(net, api_as):
    response = api_as(net.coordinator).post(LIST, NEW, format="json")
    assert response.status_code == 201
    body = response.json()
    assert [c["code"] for c in body["capabilities"]] == ["end_of_life", "response_24h"]
    org = Organization.objects.get(name=NEW["name"])
    assert [n.name for n in org.networks.all()] == ["中央区在宅ネットワーク"]
    assert AuditEvent.objects.filter(
        actor_id=net.coordinator.pk, action=AuditAction.CREATE, object_id=str(org.pk)
    ).exists()


def test_staff_adds_an_organization_to_a_network_they_name(net, api_as):
    north = Network.objects.get(name="北区在宅ネットワーク")
    response = api_as(staff_user()).post(LIST, {**NEW, "networks": [north.pk]}, format="json")
    assert response.status_code == 201
    assert [n["id"] for n in response.json()["networks"]] == [north.pk]


def test_coordinator_may_not_add_to_a_network_they_do_not_coordinate(net, api_as):
    north = Network.objects.get(name="北区在宅ネットワーク")
    response = api_as(net.coordinator).post(LIST, {**NEW, "networks": [north.pk]}, format="json")
    assert response.status_code == 400
    assert "networks" in response.json()["error"]["fields"]
    assert not Organization.objects.filter(name=NEW["name"]).exists()


@pytest.mark.parametrize("persona", ["primary", "nurse", "outsider", "stranger"])
def test_people_who_coordinate_nothing_may_not_add_organizations(net, api_as, persona):
    response = api_as(getattr(net, persona)).post(LIST, NEW, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert not Organization.objects.filter(name=NEW["name"]).exists()


def test_unknown_kind_and_capability_on_create_are_400_with_field_errors(net, api_as):
    bad = {**NEW, "kind": "spaceport", "capabilities": ["response_24h", "teleport"]}
    response = api_as(net.coordinator).post(LIST, bad, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"kind", "capabilities"}
    assert "teleport" in fields["capabilities"][0]
    assert not Organization.objects.filter(name=NEW["name"]).exists()


def test_create_without_name_or_kind_is_a_400(net, api_as):
    response = api_as(net.coordinator).post(LIST, {"name": " ", "kind": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"name", "kind"}


def test_create_with_an_over_long_value_is_a_400(net, api_as):
    response = api_as(net.coordinator).post(LIST, {**NEW, "phone": "0" * 31}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"phone"}


def test_create_with_a_name_already_in_the_directory_is_a_400(net, api_as):
    response = api_as(net.coordinator).post(LIST, {**NEW, "name": "あおば薬局"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]
    assert Organization.objects.filter(name="あおば薬局").count() == 1


def test_create_with_wrong_types_is_a_400(net, api_as):
    response = api_as(net.coordinator).post(
        LIST, {**NEW, "capabilities": "response_24h", "networks": ["x"]}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"capabilities", "networks"}


# --- update ---------------------------------------------------------------------------------


def test_coordinator_updates_an_organization_of_their_network(net, api_as):
    response = api_as(net.coordinator).patch(
        detail(net.pharmacy),
        {"capabilities": ["aseptic_compounding"], "fax": "03-0000-1111"},
        format="json",
    )
    assert response.status_code == 200
    net.pharmacy.refresh_from_db()
    assert net.pharmacy.fax == "03-0000-1111"
    assert net.pharmacy.name == "あおば薬局"
    assert [c.code for c in net.pharmacy.capabilities.all()] == ["aseptic_compounding"]
    event = AuditEvent.objects.get(action=AuditAction.UPDATE, object_id=str(net.pharmacy.pk))
    assert event.detail == "fax,capabilities"


def test_update_without_capabilities_keeps_them(net, api_as):
    org = org_with("response_24h", name="維持する診療所")
    network = Network.objects.get(name="中央区在宅ネットワーク")
    network.organizations.add(org)
    api_as(net.coordinator).patch(detail(org), {"area": "西区"}, format="json")
    assert [c.code for c in org.capabilities.all()] == ["response_24h"]


def test_coordinator_may_not_update_an_organization_of_another_network(net, api_as):
    response = api_as(net.coordinator).patch(detail(net.other_clinic), {"fax": "1"}, format="json")
    assert response.status_code == 403
    net.other_clinic.refresh_from_db()
    assert net.other_clinic.fax == ""


@pytest.mark.parametrize("persona", ["primary", "nurse", "stranger"])
def test_people_who_coordinate_nothing_may_not_update(net, api_as, persona):
    response = api_as(getattr(net, persona)).patch(
        detail(net.lead_clinic), {"kind": "spaceport"}, format="json"
    )
    assert response.status_code == 403


def test_staff_updates_any_organization(net, api_as):
    response = api_as(staff_user()).patch(detail(net.other_clinic), {"fax": "1"}, format="json")
    assert response.status_code == 200
    assert response.json()["fax"] == "1"


def test_update_with_an_unknown_kind_is_a_400_and_changes_nothing(net, api_as):
    response = api_as(net.coordinator).patch(
        detail(net.pharmacy), {"kind": "spaceport", "fax": "9"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"kind"}
    net.pharmacy.refresh_from_db()
    assert (net.pharmacy.kind, net.pharmacy.fax) == ("pharmacy", "")


def test_renaming_to_a_name_already_taken_is_a_400(net, api_as):
    response = api_as(net.coordinator).patch(
        detail(net.pharmacy), {"name": "さくら診療所"}, format="json"
    )
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]


def test_update_of_a_missing_organization_is_a_404(net, api_as):
    response = api_as(staff_user()).patch(detail(999999), {"fax": "1"}, format="json")
    assert response.status_code == 404
