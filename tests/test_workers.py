"""The real-worker fixture runs a task against the test database."""

from __future__ import annotations

import time

import pytest

from notifications.models import Notice
from notifications.tasks import deliver_notice
from tests.factories import UserFactory
from tests.workers import LOGS, celery_worker


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_queued_task_on_the_test_database():
    person = UserFactory()
    notice = Notice.objects.create(recipient=person, kind="x", key="k", title="t", url="/")
    with celery_worker(("notify",), name="smoke") as worker:
        result = deliver_notice.apply_async((notice.pk,), queue="notify")
        deadline = time.monotonic() + 30
        log = ""
        while time.monotonic() < deadline and worker.poll() is None and "succeeded" not in log:
            time.sleep(0.2)
            log = (LOGS / "celery-smoke.log").read_text()
    assert result.id
    assert "notifications.deliver_notice" in log
    assert "succeeded" in log
