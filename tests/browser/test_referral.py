"""A referral end to end in a real Chromium against a real Daphne (issue 16's Done-when):
a discharge nurse refers a patient; two physicians raise their hands, one as primary and one
as secondary; the coordinator confirms; both open the new patient's contact book with the
summary, and a third physician who declined gets 404 on it."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messaging.models import Message, Thread
from notifications.models import Notice
from patients.models import Patient, Referral
from teams.models import Profession, User
from tests.browser.conftest import TABLET
from tests.factories import MembershipFactory, UserFactory, home_care
from tests.signin import authenticator

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@dataclass
class People:
    discharge_nurse: User
    coordinator: User
    first: User
    second: User
    third: User


@pytest.fixture(scope="module")
def people(browser_data: Any, django_db_blocker: Any) -> Iterator[People]:
    token = browser_data.token
    clinic = next(o for o in browser_data.organizations if o.kind == "clinic")

    def person(name: str, display: str, profession: str, org: Any) -> User:
        user = UserFactory(
            username=f"rf-{name}-{token}", display_name=display, profession=profession
        )
        MembershipFactory(user=user, organization=org)
        authenticator(user)
        return user

    with django_db_blocker.unblock():
        nurse = person("discharge", "井上 退院", Profession.NURSE, browser_data.hospital)
        coordinator = person("coordinator", "田中 調整", Profession.CARE_MANAGER, clinic)
        browser_data.network.coordinators.add(coordinator)
        physicians = [
            person(n, d, Profession.PHYSICIAN, clinic)
            for n, d in (("first", "大橋 一郎"), ("second", "中川 二郎"), ("third", "木村 三郎"))
        ]
        for physician in physicians:
            home_care(physician, areas=["中央区"], capabilities=("palliative_care",))
    yield People(nurse, coordinator, *physicians)
    with django_db_blocker.unblock():
        users = [nurse, coordinator, *physicians]
        try:
            patients = list(
                Referral.objects.filter(created_by=nurse).values_list("patient", flat=True)
            )
            Referral.objects.filter(created_by=nurse).delete()
            messages = Message.objects.filter(thread__patient__in=patients)
            messages.update(reply_to=None)
            messages.delete()
            Thread.objects.filter(patient__in=patients).delete()
            Patient.objects.filter(pk__in=patients).delete()
            Notice.objects.filter(recipient__in=users).delete()
            browser_data.network.coordinators.remove(coordinator)
            for user in users:
                user.memberships.all().delete()
                user.delete()
        except Exception as exc:  # leftovers are harmless: names carry the run's token
            print(f"referral clean-up left rows behind: {exc!r}", file=sys.stderr)


def _as(browser: Any, login: Any, user: User) -> Any:
    context = browser.new_context(viewport=TABLET, locale="ja-JP", timezone_id="Asia/Tokyo")
    context.set_default_timeout(15_000)
    page = context.new_page()
    login(page, user)
    return page


def _answer(browser, login, base, user, referral_id, label, reason=""):
    page = _as(browser, login, user)
    page.goto(f"{base}/referrals/")
    page.locator(f"#inbox-{referral_id} a").click()
    expect(page.locator("#referral")).to_contain_text("膵癌末期")
    page.get_by_label(label, exact=True).check()
    if reason:
        page.fill("#id_reason", reason)
    page.get_by_role("button", name="回答する").click()
    expect(page.locator(".messages")).to_contain_text("回答しました")
    return page


def test_a_referral_from_the_hospital_to_a_confirmed_pair_and_their_contact_book(
    browser, login, live_server_url, people, shoot
):
    base = live_server_url
    # The discharge nurse refers the patient.
    nurse = _as(browser, login, people.discharge_nurse)
    nurse.get_by_role("link", name="在宅医療の依頼").first.click()
    nurse.get_by_role("link", name="新しい依頼").click()
    nurse.select_option("#id_age_band", "80-89")
    nurse.select_option("#id_sex", "female")
    nurse.fill("#id_area", "中央区")
    nurse.fill("#id_town", "月島")
    nurse.fill("#id_conditions", "膵癌末期、疼痛コントロール中")
    nurse.get_by_label("緩和ケア").check()
    nurse.fill("#id_summary", "娘さんと二人暮らし。自宅での看取りを希望。")
    start = (timezone.localdate() + dt.timedelta(days=5)).isoformat()
    nurse.fill("#id_wished_start", start)
    nurse.fill("#id_name", "青木 ミツ")
    nurse.fill("#id_name_kana", "あおき みつ")
    nurse.fill("#id_date_of_birth", "1941-05-06")
    nurse.fill("#id_address", "東京都中央区月島3丁目4-5")
    nurse.fill("#id_consented_on", timezone.localdate().isoformat())
    nurse.get_by_role("button", name="依頼する").click()
    expect(nurse.locator(".messages")).to_contain_text("3名の医師")
    expect(nurse.locator("#referral-identity")).to_contain_text("青木 ミツ")
    shoot(nurse, "referral-hospital")
    referral = Referral.objects.get(created_by=people.discharge_nurse)

    # Two physicians raise their hands; the third declines. None of them sees the name.
    first = _answer(browser, login, base, people.first, referral.pk, "主治医として受けられる")
    expect(first.locator("#referral")).not_to_contain_text("青木")
    shoot(first, "referral-physician")
    second = _answer(browser, login, base, people.second, referral.pk, "副主治医として受けられる")
    third = _answer(browser, login, base, people.third, referral.pk, "辞退", reason="担当が一杯")

    # The coordinator confirms the pair from the board.
    coordinator = _as(browser, login, people.coordinator)
    coordinator.goto(f"{base}/referrals/board/")
    expect(coordinator.locator("#count-matching")).to_have_text("1")
    shoot(coordinator, "referral-board")
    coordinator.locator(f"#board-referral-{referral.pk} a").click()
    coordinator.select_option("#id_primary_id", str(people.first.pk))
    coordinator.select_option("#id_secondary_id", str(people.second.pk))
    coordinator.get_by_role("button", name="決定する").click()
    expect(coordinator.locator("#referral-status")).to_have_text("決定")
    # The coordinator decides without reading: no way into the patient.
    expect(coordinator.locator("#open-patient")).to_have_count(0)

    referral.refresh_from_db()
    patient_url = f"{base}/patients/{referral.patient_id}/"
    # Both physicians open the new patient's contact book, the summary its first message.
    for page in (first, second):
        page.reload()
        page.locator("#open-patient").click()
        expect(page.locator("#patient-name")).to_have_text("青木 ミツ")
        expect(page.locator("body")).to_contain_text("在宅医療の依頼")
        expect(page.locator("body")).to_contain_text("膵癌末期")
    shoot(first, "referral-contact-book")
    # The physician who declined gets 404 on it.
    response = third.goto(patient_url)
    assert response is not None
    assert response.status == 404
