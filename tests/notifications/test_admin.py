"""Operations: Django admin shows notices with their deliveries, read-only; `vapid_keys`."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications import services
from notifications.models import Notice
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_notice_opens_with_its_deliveries_and_cannot_be_changed(admin_client_, live_events):
    notice = Notice.objects.create(recipient=UserFactory(), kind="x", key="k", title="t", url="/")
    services.deliver(notice.pk)
    assert admin_client_.get(reverse("admin:notifications_notice_changelist")).status_code == 200
    page = admin_client_.get(reverse("admin:notifications_notice_change", args=[notice.pk]))
    assert page.status_code == 200
    assert "in_app" in page.text or "アプリ内" in page.text
    assert admin_client_.get(reverse("admin:notifications_notice_add")).status_code == 403
    assert admin_client_.get(reverse("admin:notifications_delivery_changelist")).status_code == 200


def test_vapid_keys_prints_a_pair_pywebpush_can_sign_with():
    from io import StringIO

    from django.core.management import call_command
    from py_vapid import Vapid

    out = StringIO()
    call_command("vapid_keys", stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    signer = Vapid.from_string(lines["KIZUNA_VAPID_PRIVATE_KEY"])
    headers = signer.sign({"sub": "mailto:ops@example.jp", "aud": "https://push.example.com"})
    assert headers["Authorization"].startswith("vapid t=")
    assert len(lines["KIZUNA_VAPID_PUBLIC_KEY"]) == 87  # 65 bytes, base64url
