"""Real-browser fixtures: a Daphne server on a free port, committed personas, and Chromium.

The server is a separate process (`daphne config.asgi:application`), so the data it serves
must be committed: `browser_data` writes it into pytest-django's test database with the
database blocker lifted, and removes it at the end of the package, audit rows included (by
TRUNCATE, which the append-only trigger leaves to privileges). A name already taken in a
reused test database gets a per-run token. The browser tests run after all others.

Playwright's sync API runs here outside any event loop (pytest-asyncio only runs loops for
async tests), and drives Debian's Chromium: never `playwright install`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from messaging.models import Message, MessageRevision, Thread
from patients.models import CareRole, Patient
from teams.models import Membership, Network, Organization, OrganizationKind, Profession, User
from tests.factories import (
    PASSWORD,
    CareTeamMemberFactory,
    ConsentFactory,
    MembershipFactory,
    NetworkFactory,
    OrganizationFactory,
    PatientFactory,
    UserFactory,
)
from tests.signin import authenticator, totp_code

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# The README's screenshot lands here, never in the tracked docs/: `make screenshots` copies it
# there, so a test run leaves the work tree as it found it.
DOCS = ARTIFACTS / "docs"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The conference room (tests/browser/test_conference_room.py) and the in-page photo camera
    # (tests/browser/test_photos.py): a fake camera and microphone, allowed without a prompt.
    # Pages that ask for no media are unaffected.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
TABLET = {"width": 1024, "height": 768}
ESCALATION_MINUTE_SECONDS = "0.5"
PHONE = {"width": 390, "height": 844}


@dataclass
class BrowserData:
    token: str
    nurse: User
    outsider: User
    primary: User
    newcomer: User  # no authenticator yet: their first sign-in enrols one
    patient: Patient
    other_patient: Patient
    hospital: Organization
    organizations: list[Any]
    network: Network


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _compile_messages() -> None:
    """The English test needs the compiled catalog; `make test` builds it, a bare pytest may not."""
    for lang in ("en", "ja"):
        po = ROOT / "locale" / lang / "LC_MESSAGES" / "django.po"
        mo = po.with_suffix(".mo")
        if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
            call_command("compilemessages", locale=[lang], ignore_patterns=[".venv"], verbosity=0)


def _build(token: str) -> BrowserData:
    def unique(name: str, model: Any = Organization) -> str:
        # Plain names read better in the screenshots; the token only when a name is taken.
        return f"{name}-{token}" if model.objects.filter(name=name).exists() else name

    station = OrganizationFactory(
        name=unique("ひまわり訪問看護ステーション"), kind=OrganizationKind.NURSING_STATION
    )
    clinic_name = unique("みどり在宅クリニック")
    clinic = OrganizationFactory(name=clinic_name, kind=OrganizationKind.CLINIC)
    hospital = OrganizationFactory(
        name=unique("中央総合病院"), kind=OrganizationKind.HOSPITAL, phone="03-0000-1111"
    )
    network = NetworkFactory(name=unique("中央区在宅ネットワーク", Network))
    network.organizations.add(station, clinic, hospital)

    def person(
        role: str, name: str, kana: str, profession: str, org: Organization, enrol: bool = True
    ) -> User:
        user = UserFactory(
            username=f"{role}-{token}",
            display_name=name,
            name_kana=kana,
            profession=profession,
            phone="090-0000-0000",
        )
        MembershipFactory(user=user, organization=org)
        if enrol:  # the login fixture then passes the second factor with its code
            authenticator(user)
        return user

    primary = person("primary", "山田 太郎", "やまだ たろう", Profession.PHYSICIAN, clinic)
    nurse = person("nurse", "鈴木 恵", "すずき めぐみ", Profession.NURSE, station)
    outsider = person("outsider", "伊藤 誠", "いとう まこと", Profession.NURSE, clinic)
    newcomer = person("newcomer", "新井 優", "あらい ゆう", Profession.NURSE, station, enrol=False)

    patient = PatientFactory(
        name="小林 ハル",
        name_kana="こばやし はる",
        managing_organization=clinic,
        care_level="care_3",
        address="東京都中央区1-2-3",
    )
    ConsentFactory(patient=patient, recorded_by=primary)
    CareTeamMemberFactory(
        patient=patient, user=primary, role=CareRole.PRIMARY_PHYSICIAN, organization=clinic
    )
    CareTeamMemberFactory(
        patient=patient, user=nurse, role=CareRole.VISITING_NURSE, organization=station
    )
    # A patient of the same clinic whose team the nurse is not on.
    other = PatientFactory(
        name="別所 次郎", name_kana="べっしょ じろう", managing_organization=clinic
    )
    ConsentFactory(patient=other, recorded_by=primary)
    CareTeamMemberFactory(
        patient=other, user=primary, role=CareRole.PRIMARY_PHYSICIAN, organization=clinic
    )
    return BrowserData(
        token=token,
        nurse=nurse,
        outsider=outsider,
        primary=primary,
        newcomer=newcomer,
        patient=patient,
        other_patient=other,
        hospital=hospital,
        organizations=[station, clinic, hospital],
        network=network,
    )


def _clean_up(data: BrowserData) -> None:
    """Best effort: remove the run's rows so that later tests in the session see none of them."""
    users = User.objects.filter(username__endswith=f"-{data.token}")
    orgs = Organization.objects.filter(pk__in=[o.pk for o in data.organizations])
    patients = [data.patient.pk, data.other_patient.pk]
    messages = Message.objects.filter(thread__patient__in=patients)
    steps: list[Any] = [
        lambda: messages.update(reply_to=None),
        lambda: MessageRevision.objects.filter(message__in=messages).delete(),
        lambda: messages.delete(),
        lambda: Thread.objects.filter(patient__in=patients).delete(),
        lambda: Patient.objects.filter(pk__in=patients).delete(),
        lambda: Membership.objects.filter(user__in=users).delete(),
        lambda: Network.objects.filter(pk=data.network.pk).delete(),
        lambda: users.delete(),
        lambda: orgs.delete(),
    ]
    steps.append(_truncate_audit_rows)
    for step in steps:
        try:
            step()
        except Exception as exc:  # leftovers are harmless: names carry the run's token
            print(f"browser clean-up left rows behind: {exc!r}", file=sys.stderr)


def _truncate_audit_rows() -> None:
    """The server's audit rows: append-only (no DELETE), but TRUNCATE is left open for test
    databases. Without this, later tests that count audit rows would see ours, also in the
    next run on a reused test database."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditevent")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: they are slow, and they commit data while they run."""
    here = Path(__file__).resolve().parent
    browser = [item for item in items if here in Path(str(item.path)).resolve().parents]
    others = [item for item in items if item not in browser]
    items[:] = others + browser


@pytest.fixture(scope="package")
def browser_data(django_db_setup: None, django_db_blocker: Any) -> Iterator[BrowserData]:
    token = uuid.uuid4().hex[:8]
    with django_db_blocker.unblock():
        data = _build(token)
    yield data
    with django_db_blocker.unblock():
        _clean_up(data)


@pytest.fixture(scope="package")
def live_server_url(browser_data: BrowserData, django_db_blocker: Any) -> Iterator[str]:
    """A real Daphne process serving the test database, with PostgreSQL and Redis."""
    _compile_messages()
    with django_db_blocker.unblock():
        db = connection.settings_dict
    port = _free_port()
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    db_port = db.get("PORT") or 5432
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{user}{password}@{host}:{db_port}/{db['NAME']}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_DEBUG": "1",
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # The escalation's clock runs fast: a team's 10-minute deadline is 5 s (routing tests).
        "KIZUNA_ESCALATION_MINUTE_SECONDS": ESCALATION_MINUTE_SECONDS,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "daphne.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--no-server-name",  # no `Server: Daphne` banner, as in production
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited; see {ARTIFACTS / 'daphne.log'}")
            try:
                with urllib.request.urlopen(f"{url}/login/", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("daphne did not answer within 40 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="package")
def browser(live_server_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Sync Playwright keeps an asyncio loop marked as running in this thread, so Django
    # would refuse the tests' (plain, synchronous) ORM calls; they are safe here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile per test (its own cookies, caches and service worker)."""
    ctx = browser.new_context(viewport=TABLET, locale="ja-JP", timezone_id="Asia/Tokyo")
    ctx.set_default_timeout(15_000)
    yield ctx
    with contextlib.suppress(Exception):
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture
def login(live_server_url: str, django_db_blocker: Any) -> Any:
    """`login(page, user)` signs in through the real login form, then the second-factor
    form with the code the person's authenticator shows, and lands on home."""

    def sign_in(page: Any, user: User) -> None:
        with django_db_blocker.unblock():
            # Enrolled when committed (browser_data, or a module fixture): a device made here
            # would sit in the test's transaction, unseen by the server.
            device = authenticator(user)
        page.goto(f"{live_server_url}/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation(url=re.compile(r"/account/two-factor/")):
            page.click("form.form button[type=submit]")
        with django_db_blocker.unblock():
            code = totp_code(device)
        page.fill("#id_code", code)
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
        assert page.url == f"{live_server_url}/", page.url

    return sign_in


@pytest.fixture
def shoot() -> Any:
    """`shoot(page, name)` saves a tablet and a phone screenshot under tests/browser/artifacts/."""

    def screenshots(page: Any, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size(TABLET)
        page.screenshot(path=str(ARTIFACTS / f"{name}-tablet.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(TABLET)

    return screenshots
