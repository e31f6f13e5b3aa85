"""People, the signed-in user and networks through the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from teams.models import Membership, Profession
from tests.factories import MembershipFactory, UserFactory
from tests.teams.factories import staff_user

pytestmark = pytest.mark.django_db

PEOPLE = reverse("api-people")
ME = reverse("api-me")
NETWORKS = reverse("api-networks")


def usernames(response) -> set[str]:
    assert response.status_code == 200, response.content
    ids = {p["id"] for p in response.json()["results"]}
    from teams.models import User

    return set(User.objects.filter(pk__in=ids).values_list("username", flat=True))


PERSONAS = {"primary", "secondary", "nurse", "pharmacist", "coordinator", "outsider", "stranger"}


def test_people_lists_active_people_with_profession_and_organizations(net, api_as):
    UserFactory(username="retired", is_active=False)
    response = api_as(net.nurse).get(PEOPLE)
    assert usernames(response) == PERSONAS
    primary = next(p for p in response.json()["results"] if p["id"] == net.primary.pk)
    assert primary["name"] == "山田 太郎"
    assert primary["profession"] == "physician"
    assert primary["profession_label"] == "医師"
    assert primary["organizations"] == [
        {"id": net.lead_clinic.pk, "name": "みどり在宅クリニック", "title": ""}
    ]


def test_people_carries_no_patient_data_or_contact_details(net, api_as):
    person = api_as(net.nurse).get(PEOPLE).json()["results"][0]
    assert set(person) == {
        "id",
        "name",
        "display_name",
        "name_kana",
        "profession",
        "profession_label",
        "organizations",
    }


def test_people_filtered_by_organization(net, api_as):
    response = api_as(net.nurse).get(PEOPLE, {"organization": net.lead_clinic.pk})
    assert usernames(response) == {"primary", "coordinator", "outsider"}


def test_people_filter_by_organization_ignores_ended_memberships(net, api_as):
    Membership.objects.filter(user=net.outsider).update(is_active=False)
    response = api_as(net.nurse).get(PEOPLE, {"organization": net.lead_clinic.pk})
    assert usernames(response) == {"primary", "coordinator"}
    outsider = api_as(net.nurse).get(reverse("api-person", args=[net.outsider.pk])).json()
    assert outsider["organizations"] == []


def test_people_filtered_by_profession(net, api_as):
    response = api_as(net.nurse).get(PEOPLE, {"profession": Profession.PHYSICIAN})
    assert usernames(response) == {"primary", "secondary", "stranger"}


def test_people_filtered_by_name_or_kana(net, api_as):
    UserFactory(username="kana", display_name="中村 一郎", name_kana="なかむら いちろう")
    assert usernames(api_as(net.nurse).get(PEOPLE, {"q": "中村"})) == {"kana"}
    assert usernames(api_as(net.nurse).get(PEOPLE, {"q": "なかむら"})) == {"kana"}


def test_people_with_a_bad_filter_is_a_400(net, api_as):
    response = api_as(net.nurse).get(PEOPLE, {"profession": "wizard", "organization": "x"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"profession", "organization"}


@pytest.mark.parametrize("extra", [1, 10])
def test_people_list_costs_the_same_queries_for_any_length(
    net, api_as, django_assert_num_queries, extra
):
    for _ in range(extra):
        user = UserFactory()
        MembershipFactory(user=user, organization=net.station)
        MembershipFactory(user=user, organization=net.pharmacy)
    client = api_as(net.nurse)
    # count, page, memberships with their organizations
    with django_assert_num_queries(3):
        response = client.get(PEOPLE)
    assert response.json()["count"] == len(PERSONAS) + extra


def test_person_detail_shows_one_person(net, api_as):
    response = api_as(net.stranger).get(reverse("api-person", args=[net.nurse.pk]))
    assert response.status_code == 200
    assert response.json()["organizations"][0]["name"] == "ひまわり訪問看護ステーション"


def test_inactive_or_missing_person_is_a_404(net, api_as):
    retired = UserFactory(is_active=False)
    for pk in (retired.pk, 999999):
        response = api_as(net.nurse).get(reverse("api-person", args=[pk]))
        assert response.status_code == 404


def test_me_shows_memberships_and_that_a_coordinator_coordinates(net, api_as):
    body = api_as(net.coordinator).get(ME).json()
    assert body["username"] == "coordinator"
    assert body["is_coordinator"] is True
    assert body["can_manage_directory"] is True
    assert [n["name"] for n in body["coordinated_networks"]] == ["中央区在宅ネットワーク"]
    assert body["memberships"] == [
        {
            "organization": {"id": net.lead_clinic.pk, "name": "みどり在宅クリニック"},
            "title": "",
            "is_admin": False,
            "is_active": True,
        }
    ]


def test_me_for_someone_who_coordinates_nothing(net, api_as):
    body = api_as(net.nurse).get(ME).json()
    assert (body["is_coordinator"], body["can_manage_directory"]) == (False, False)
    assert body["coordinated_networks"] == []


def test_me_for_staff_may_manage_the_directory(net, api_as):
    body = api_as(staff_user()).get(ME).json()
    assert (body["is_coordinator"], body["can_manage_directory"]) == (False, True)


def test_me_needs_a_signed_in_user(api):
    assert api.get(ME).status_code in (401, 403)


def test_networks_list_their_organizations_and_coordinators(net, api_as):
    response = api_as(net.nurse).get(NETWORKS)
    assert response.status_code == 200
    central = next(n for n in response.json()["results"] if n["name"] == "中央区在宅ネットワーク")
    assert {o["name"] for o in central["organizations"]} == {
        "みどり在宅クリニック",
        "さくら診療所",
        "ひまわり訪問看護ステーション",
        "あおば薬局",
    }
    assert central["coordinators"] == [{"id": net.coordinator.pk, "name": "田中 陽子"}]


@pytest.mark.parametrize("extra", [0, 10])
def test_networks_list_costs_the_same_queries_for_any_length(
    net, api_as, django_assert_num_queries, extra
):
    from tests.factories import NetworkFactory

    for _ in range(extra):
        network = NetworkFactory()
        network.organizations.add(net.station)
        network.coordinators.add(UserFactory())
    client = api_as(net.nurse)
    with django_assert_num_queries(4):
        response = client.get(NETWORKS)
    assert response.json()["count"] == 2 + extra


def test_network_detail_and_missing_network(net, api_as):
    first = api_as(net.nurse).get(NETWORKS).json()["results"][0]
    assert api_as(net.nurse).get(reverse("api-network", args=[first["id"]])).json() == first
    assert api_as(net.nurse).get(reverse("api-network", args=[999999])).status_code == 404
