"""Delivery through a real Celery worker (and beat) on Redis and the test database.

The worker is another process: e-mail goes to files (EMAIL_URL=filemail://...), Web Push to
a small threaded HTTP server standing in for the push service.
"""

from __future__ import annotations

import datetime
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import receivers
from notifications.models import Delivery, Notice, Preference, PushSubscription, Urgency
from notifications.services import notify
from tests.factories import UserFactory
from tests.notifications.conftest import browser_keys, vapid_keys
from tests.notifications.test_delivery import quiet_now
from tests.workers import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True)]

WAIT = 90  # seconds: a beat's first sweep comes 30 s after it starts


def wait_for(check: Callable[[], bool], seconds: float = WAIT) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    path = tmp_path / "mail"
    path.mkdir()
    return path


@pytest.fixture
def worker_env(mail_dir: Path) -> dict[str, str]:
    public, private = vapid_keys()
    return {
        "EMAIL_URL": f"filemail:///{mail_dir}",  # django-environ drops one leading slash
        "KIZUNA_VAPID_PUBLIC_KEY": public,
        "KIZUNA_VAPID_PRIVATE_KEY": private,
        "KIZUNA_VAPID_SUBJECT": "mailto:ops@example.jp",
    }


def mails(mail_dir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(mail_dir.glob("*.log")))


def states(notice: Notice) -> dict[str, str]:
    return dict(Delivery.objects.filter(notice=notice).values_list("channel", "state"))


def test_a_worker_delivers_in_app_and_by_email(worker_env, mail_dir):
    person = UserFactory(email="yamada@example.jp")
    Preference.objects.create(user=person, important=["in_app", "email"])
    with celery_worker(("notify",), name="nt-mail", **worker_env):
        with transaction.atomic():
            notice = notify(
                person.pk, kind="message.mention", key="mention:1", url="/patients/1/#thread",
                title="鈴木さんがあなたをメンションしました", urgency=Urgency.IMPORTANT,
            )  # fmt: skip
        wait_for(lambda: states(notice) == {"in_app": "sent", "email": "sent"}, 40)
    assert "yamada@example.jp" in mails(mail_dir)
    assert "/patients/1/#thread" in mails(mail_dir)


def test_urgent_notices_go_out_at_once_in_quiet_hours(worker_env, mail_dir):
    person = UserFactory(email="night@example.jp")
    quiet_now(person)
    with celery_worker(("notify",), name="nt-urgent", **worker_env):
        with transaction.atomic():
            notice = notify(
                person.pk, kind="message.urgent", key="message:2", url="/",
                title="緊急: 鈴木さんからのメッセージ", urgency=Urgency.URGENT,
            )  # fmt: skip
        wait_for(lambda: states(notice) == {"in_app": "sent", "email": "sent"}, 40)
    assert "night@example.jp" in mails(mail_dir)


def test_quiet_hours_hold_notices_and_the_beat_sends_them_as_one_digest(worker_env, mail_dir):
    person = UserFactory(email="quiet@example.jp")
    quiet_now(person)
    with celery_worker(("notify",), beat=True, name="nt-quiet", **worker_env):
        with transaction.atomic():
            first = notify(person.pk, kind="message.new", key="message:3", url="/", title="一件目")
            second = notify(person.pk, kind="message.new", key="message:4", url="/", title="二件目")
        wait_for(
            lambda: states(first).get("email") == "held" and states(second).get("email") == "held",
            40,
        )
        assert mails(mail_dir) == ""
        # The quiet hours end (rather than waiting an hour for it).
        Delivery.objects.filter(state="held").update(next_attempt_at=timezone.now())
        wait_for(lambda: states(first)["email"] == "sent" and states(second)["email"] == "sent")
    text = mails(mail_dir)
    assert text.count("quiet@example.jp") == 1  # one digest, not two e-mails
    assert "一件目" in text
    assert "二件目" in text


class PushService(http.server.ThreadingHTTPServer):
    """Answers each push with the next status of `answers`; records what it received."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.received: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), PushHandler)


class PushHandler(http.server.BaseHTTPRequestHandler):
    server: PushService

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.server.received.append({k.lower(): v for k, v in self.headers.items()})
        status = self.server.answers.pop(0) if self.server.answers else 201
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def push_service() -> Iterator[PushService]:
    server = PushService([201, 410])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_web_push_reaches_the_push_service_and_an_expired_subscription_is_removed(
    worker_env, push_service
):
    person = UserFactory()
    Preference.objects.create(user=person, important=["push"])
    p256dh, auth = browser_keys()
    # Inserted directly: the API accepts https endpoints only, and this one is local http.
    PushSubscription.objects.create(
        user=person, endpoint=f"http://127.0.0.1:{push_service.server_port}/push/device-1",
        p256dh=p256dh, auth=auth,
    )  # fmt: skip
    with celery_worker(("notify",), name="nt-push", **worker_env):
        with transaction.atomic():
            first = notify(person.pk, kind="x", key="p1", url="/", title="一件目",
                           urgency=Urgency.IMPORTANT)  # fmt: skip
        wait_for(lambda: states(first) == {"push": "sent"}, 40)
        with transaction.atomic():
            second = notify(person.pk, kind="x", key="p2", url="/", title="二件目",
                            urgency=Urgency.IMPORTANT)  # fmt: skip
        wait_for(lambda: states(second) == {"push": "failed"}, 40)
    assert len(push_service.received) == 2
    assert push_service.received[0]["authorization"].startswith("vapid t=")
    assert push_service.received[0]["content-encoding"] == "aes128gcm"
    assert not PushSubscription.objects.filter(user=person).exists()
    reason = Delivery.objects.get(notice=second).reason
    assert "expired" in reason


def test_the_beat_sweep_delivers_a_notice_whose_task_was_lost(monkeypatch, worker_env):
    person = UserFactory()

    class DownBroker:
        @staticmethod
        def delay(notice_id: int) -> None:
            raise ConnectionError("Redis is down")

    monkeypatch.setattr(receivers, "deliver_notice", DownBroker)
    with transaction.atomic():
        notice = notify(person.pk, kind="x", key="lost", url="/", title="届くはず")
    assert notice is not None
    assert states(notice) == {}
    Notice.objects.filter(pk=notice.pk).update(
        created_at=timezone.now() - datetime.timedelta(seconds=10)
    )
    with celery_worker(("notify",), beat=True, name="nt-sweep", **worker_env):
        wait_for(lambda: states(notice) == {"in_app": "sent"})
    notice.refresh_from_db()
    assert notice.dispatched_at is not None
