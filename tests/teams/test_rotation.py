"""The network's on-call rotation (当番表) and availability: a month is saved whole or not at
all, gaps and overlaps named by date; leave periods and the "off duty now" switch (issue 13,
items 4 and 7)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from teams import rotation
from teams.models import LeavePeriod, Network, OnCallDay, OrganizationKind, Profession
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

MONTH = "2027-01"  # 1/1 元日, 1/11 成人の日


@pytest.fixture
def network(net):
    return Network.objects.get(name="中央区在宅ネットワーク")


@pytest.fixture
def hospital(network):
    org = OrganizationFactory(name="中央総合病院", kind=OrganizationKind.HOSPITAL)
    network.organizations.add(org)
    return org


def _days(net, hospital, *, skip=(), twice=()):
    rows = []
    for day in rotation.month_days(2027, 1):
        if day.day in skip:
            continue
        doctor = net.primary if day.day % 2 else net.secondary
        row = {"date": day.isoformat(), "physician": doctor.pk, "backup_hospital": hospital.pk}
        rows.append(row)
        if day.day in twice:
            rows.append(dict(row))
    return rows


def _put(api, network, days):
    return api.put(
        f"/api/v1/networks/{network.pk}/rotation/{MONTH}/", {"days": days}, format="json"
    )


def test_a_coordinator_saves_a_whole_month_and_the_view_marks_holidays_and_weekends(
    net, network, hospital, api_as
):
    response = _put(api_as(net.coordinator), network, _days(net, hospital))
    assert response.status_code == 200, response.json()
    days = {d["date"]: d for d in response.json()["days"]}
    assert days["2027-01-01"]["kind"] == "holiday"
    assert days["2027-01-01"]["holiday_name"] == "元日"
    assert days["2027-01-02"]["kind"] == "weekend"
    assert days["2027-01-04"]["kind"] == "weeknight"
    assert days["2027-01-11"]["kind"] == "holiday"
    assert days["2027-01-01"]["physician"]["id"] == net.primary.pk
    assert OnCallDay.objects.filter(network=network).count() == 31


def test_gaps_are_400_with_their_dates_and_nothing_is_saved(net, network, hospital, api_as):
    response = _put(api_as(net.coordinator), network, _days(net, hospital, skip=(3, 4, 20)))
    assert response.status_code == 400
    gaps = response.json()["error"]["fields"]["gaps"][0]
    assert "2027-01-03、2027-01-04、2027-01-20" in gaps
    assert not OnCallDay.objects.exists()


def test_overlaps_are_400_with_their_dates_and_the_old_month_stays(net, network, hospital, api_as):
    _put(api_as(net.coordinator), network, _days(net, hospital))
    response = _put(api_as(net.coordinator), network, _days(net, hospital, twice=(7,)))
    assert response.status_code == 400
    assert "2027-01-07" in response.json()["error"]["fields"]["overlaps"][0]
    assert OnCallDay.objects.filter(network=network).count() == 31


def test_a_physician_outside_the_network_is_400(net, network, hospital, api_as):
    days = _days(net, hospital)
    days[0]["physician"] = net.stranger.pk
    response = _put(api_as(net.coordinator), network, days)
    assert response.status_code == 400
    assert "2027-01-01" in response.json()["error"]["fields"]["physician"][0]


def test_a_member_who_is_not_coordinator_gets_403_and_an_outsider_404(
    net, network, hospital, api_as
):
    assert _put(api_as(net.nurse), network, _days(net, hospital)).status_code == 403
    assert _put(api_as(net.stranger), network, _days(net, hospital)).status_code == 404


def test_a_bad_month_is_400(net, network, api_as):
    response = api_as(net.coordinator).get(f"/api/v1/networks/{network.pk}/rotation/2027-13/")
    assert response.status_code == 400


def test_the_duty_of_a_day_runs_from_9_to_9(net, network, hospital):
    OnCallDay.objects.create(network=network, date=dt.date(2027, 1, 1), physician=net.primary)
    OnCallDay.objects.create(network=network, date=dt.date(2027, 1, 2), physician=net.secondary)
    tokyo = timezone.get_default_timezone()
    night = dt.datetime(2027, 1, 2, 3, 0, tzinfo=tokyo)
    morning = dt.datetime(2027, 1, 2, 9, 30, tzinfo=tokyo)
    assert rotation.on_call_at([network.pk], night).physician == net.primary
    assert rotation.on_call_at([network.pk], morning).physician == net.secondary


def test_the_off_duty_switch_makes_a_physician_unavailable(net, api_as):
    response = api_as(net.primary).put("/api/v1/me/off-duty/", {"off_duty": True}, format="json")
    assert response.json() == {"off_duty": True}
    net.primary.refresh_from_db()
    assert rotation.unavailable_reason(net.primary, timezone.now()) == "現在対応不可"
    assert api_as(net.primary).put("/api/v1/me/off-duty/", {}, format="json").status_code == 400


def test_a_leave_period_makes_a_physician_unavailable_on_its_days(net, api_as):
    today = timezone.localdate()
    response = api_as(net.primary).post(
        "/api/v1/me/leave/",
        {"starts_on": today.isoformat(), "ends_on": (today + dt.timedelta(2)).isoformat()},
        format="json",
    )
    assert response.status_code == 201
    assert rotation.unavailable_reason(net.primary, timezone.now()) == "休暇中"
    later = timezone.now() + dt.timedelta(days=5)
    assert rotation.unavailable_reason(net.primary, later) == ""


@pytest.mark.parametrize(("starts", "ends", "field"), [(0, -1, "ends_on"), (-5, -3, "ends_on")])
def test_a_bad_leave_period_is_400(net, api_as, starts, ends, field):
    today = timezone.localdate()
    response = api_as(net.primary).post(
        "/api/v1/me/leave/",
        {
            "starts_on": (today + dt.timedelta(starts)).isoformat(),
            "ends_on": (today + dt.timedelta(ends)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not LeavePeriod.objects.exists()


def test_the_month_page_shows_the_days_and_the_gaps(net, network, hospital, client):
    night = UserFactory(username="night", profession=Profession.PHYSICIAN)
    MembershipFactory(user=night, organization=hospital)
    OnCallDay.objects.create(network=network, date=dt.date(2027, 1, 1), physician=night)
    client.force_login(net.coordinator)
    page = client.get(f"/directory/networks/{network.pk}/rotation/{MONTH}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "元日" in text
    assert text.count('class="gap"') == 30


def test_the_month_form_refuses_a_month_with_gaps_naming_them(net, network, hospital, client):
    client.force_login(net.coordinator)
    data = {f"physician-{d['date']}": d["physician"] for d in _days(net, hospital, skip=(9,))}
    page = client.post(f"/directory/networks/{network.pk}/rotation/{MONTH}/", data)
    assert page.status_code == 400
    assert "2027-01-09" in page.content.decode()
    assert not OnCallDay.objects.exists()
    full = {f"physician-{d['date']}": d["physician"] for d in _days(net, hospital)}
    saved = client.post(f"/directory/networks/{network.pk}/rotation/{MONTH}/", full)
    assert saved.status_code == 302
    assert OnCallDay.objects.filter(network=network).count() == 31


def test_a_bad_month_page_is_400_and_a_member_cannot_save(net, network, hospital, client):
    client.force_login(net.nurse)
    assert client.get(f"/directory/networks/{network.pk}/rotation/2027-13/").status_code == 400
    data = {f"physician-{d['date']}": d["physician"] for d in _days(net, hospital)}
    page = client.post(f"/directory/networks/{network.pk}/rotation/{MONTH}/", data)
    assert page.status_code == 403
