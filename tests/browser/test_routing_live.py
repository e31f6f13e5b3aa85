"""An urgent request in real Chromium against a real Daphne, Celery worker and beat: the
primary does not answer; after the (shortened) deadline the secondary's open page shows it
live; the secondary answers 往診します; the chain stops and the thread shows who answered when
(issue 13, Done when)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from messaging.models import EscalationStep, Message, Request, RequestReply, Tier
from notifications.models import Notice
from patients.models import CareRole, CareTeamMember, EscalationGrant
from teams.models import Profession
from tests.browser.conftest import ESCALATION_MINUTE_SECONDS, TABLET
from tests.factories import CareTeamMemberFactory, MembershipFactory, UserFactory
from tests.signin import authenticator
from tests.workers import celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LIVE = 20_000  # ms: the 5 s deadline, a sweep at worst, and the page's refresh


@pytest.fixture(scope="module")
def secondary(browser_data: Any, django_db_blocker: Any) -> Iterator[Any]:
    """The patient's secondary physician, committed for the server to see."""
    with django_db_blocker.unblock():
        doctor = UserFactory(
            username=f"secondary-{browser_data.token}",
            display_name="佐藤 花子",
            profession=Profession.PHYSICIAN,
            phone="090-1111-2222",
        )
        clinic = browser_data.organizations[1]
        MembershipFactory(user=doctor, organization=clinic)
        authenticator(doctor)
        place = CareTeamMemberFactory(
            patient=browser_data.patient,
            user=doctor,
            role=CareRole.SECONDARY_PHYSICIAN,
            organization=clinic,
        )
    yield doctor
    with django_db_blocker.unblock(), contextlib.suppress(Exception):
        patient = browser_data.patient
        EscalationStep.objects.filter(request__patient=patient).delete()
        RequestReply.objects.filter(request__patient=patient).delete()
        Request.objects.filter(patient=patient).delete()
        EscalationGrant.objects.filter(patient=patient).delete()
        Notice.objects.filter(recipient=doctor).delete()
        CareTeamMember.objects.filter(pk=place.pk).delete()


@pytest.fixture
def worker() -> Iterator[None]:
    env = {
        "KIZUNA_ESCALATION_MINUTE_SECONDS": ESCALATION_MINUTE_SECONDS,
        "KIZUNA_ESCALATION_SWEEP_SECONDS": "1",
    }
    with celery_worker(("routing", "notify"), beat=True, name="routing-browser", **env):
        yield


def test_an_urgent_request_reaches_the_secondary_live_and_their_answer_stops_the_chain(
    page, browser, login, live_server_url, browser_data, secondary, worker, shoot
):
    url = f"{live_server_url}/patients/{browser_data.patient.pk}/"
    other = browser.new_context(viewport=TABLET, locale="ja-JP", timezone_id="Asia/Tokyo")
    other.set_default_timeout(15_000)
    try:
        doctor = other.new_page()
        login(doctor, secondary)
        doctor.goto(url)
        expect(doctor.locator("#thread-card")).to_have_attribute("data-live", "open")

        login(page, browser_data.nurse)
        page.goto(url)
        body = f"呼吸が苦しそうです。往診をお願いします [{uuid.uuid4().hex[:6]}]"
        page.locator("details.request-new summary").click()
        page.fill("#request-body", body)
        page.select_option("#request-role", CareRole.PRIMARY_PHYSICIAN.value)
        page.select_option("#request-priority", "urgent")
        started = time.monotonic()
        page.locator("details.request-new button[type=submit]").click()
        card = page.locator("article.request", has_text=body)
        expect(card.locator("[data-tier=primary] .step-asked")).to_contain_text("山田 太郎")

        # The primary does not answer: after the deadline the secondary's open page shows it.
        on_doctor = doctor.locator("article.request", has_text=body)
        expect(on_doctor.locator("[data-tier=secondary] .step-asked")).to_contain_text(
            "佐藤 花子", timeout=LIVE
        )
        assert time.monotonic() - started >= 4.5  # not before the deadline (10 × 0.5 s)
        shoot(doctor, "routing-secondary-asked")

        on_doctor.get_by_role("button", name="往診します").click()
        expect(on_doctor.locator(".request-reply")).to_contain_text("往診します")
        # The nurse's page shows who answered, live.
        expect(card.locator(".request-reply")).to_contain_text("佐藤 花子", timeout=LIVE)
        expect(card.locator("[data-tier=secondary] .step-answered")).to_be_visible()
        expect(card).to_have_attribute("data-status", "answered")
        shoot(page, "routing-answered")

        request = Request.objects.get(message__body=body)
        page.wait_for_timeout(6_000)  # past the next deadline: nothing more fires
        tiers = list(
            EscalationStep.objects.filter(request=request, fired_at__isnull=False)
            .order_by("order")
            .values_list("tier", flat=True)
        )
        assert tiers == [Tier.PRIMARY, Tier.SECONDARY]
        assert (
            Message.objects.filter(reply_to=request.message, body__contains="往診します").count()
            == 1
        )
    finally:
        with contextlib.suppress(Exception):
            other.close()
