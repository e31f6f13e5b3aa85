"""An organization administrator's list of their people (/account/people/), each linking to
the page that ends that person's access (/account/people/<id>/)."""

from __future__ import annotations

import pytest
from django.test import Client

from teams.models import Membership
from tests.factories import MembershipFactory, UserFactory
from tests.signin import sign_in

pytestmark = pytest.mark.django_db


def admin_of_lead_clinic(net) -> Client:
    Membership.objects.filter(user=net.primary).update(is_admin=True)
    client = Client()
    sign_in(client, net.primary)
    return client


def test_an_administrator_lists_their_people_each_linking_to_their_access_page(net):
    client = admin_of_lead_clinic(net)
    response = client.get("/account/people/")
    assert response.status_code == 200
    page = response.content.decode()
    for person in (net.primary, net.coordinator, net.outsider):
        assert f'href="/account/people/{person.pk}/"' in page
    for person in (net.nurse, net.secondary, net.stranger):
        assert f'href="/account/people/{person.pk}/"' not in page
    assert client.get(f"/account/people/{net.outsider.pk}/").status_code == 200


def test_the_account_page_links_to_the_list_for_administrators_only(net):
    assert (
        'id="people-admin-link"'
        in admin_of_lead_clinic(net).get("/account/devices/").content.decode()
    )
    nurse = Client()
    sign_in(nurse, net.nurse)
    assert 'id="people-admin-link"' not in nurse.get("/account/devices/").content.decode()


def test_someone_who_administers_nothing_gets_403_with_the_reason(net):
    client = Client()
    sign_in(client, net.nurse)
    response = client.get("/account/people/")
    assert response.status_code == 403
    assert "組織の管理者だけが行えます" in response.content.decode()


def test_the_list_takes_a_fixed_number_of_queries(net, django_assert_max_num_queries):
    client = admin_of_lead_clinic(net)
    client.get("/account/people/")
    for i in range(5):
        MembershipFactory(user=UserFactory(username=f"extra{i}"), organization=net.lead_clinic)
    with django_assert_max_num_queries(12) as captured:
        client.get("/account/people/")
    few = len(captured)
    for i in range(5, 15):
        MembershipFactory(user=UserFactory(username=f"extra{i}"), organization=net.lead_clinic)
    with django_assert_max_num_queries(few):
        client.get("/account/people/")
