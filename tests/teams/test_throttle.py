"""The sign-in guard and the rate limits of teams.throttle, over the login page, the token
endpoint, the password change, the directory's searches and the CSV import.

The limits are the production defaults (5 failures per account, 20 per address, 15 minutes)
unless a test names its own; the unlock test shortens the lockout to a second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditAction, AuditEvent
from config.errors import Throttled
from teams import throttle
from teams.models import User
from tests.factories import PASSWORD, UserFactory
from tests.signin import authenticator, sign_in, totp_code

pytestmark = pytest.mark.django_db

WRONG = "not-the-password"
LOCKOUT = 15 * 60


@pytest.fixture(params=["redis", "locmem"])
def backend(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """The cache of production (Redis) and of the embedded mode (LocMemCache)."""
    if request.param == "locmem":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "throttle-tests",
            }
        }
    yield request.param
    if request.param == "locmem":
        from django.core.cache import cache

        cache.clear()


def page_login(client: Client, username: str, password: str) -> Any:
    return client.post("/login/", {"username": username, "password": password})


def api_login(api: APIClient, username: str, password: str) -> Any:
    """The token request with the person's current second-factor code (a right one: what is
    tried here is the password)."""
    user = User.objects.filter(username=username).first()
    code = totp_code(authenticator(user)) if user is not None else "000000"
    return api.post(
        "/api/v1/auth/token/", {"username": username, "password": password, "otp_code": code}
    )


def retry_after(response: Any) -> int:
    value = int(response["Retry-After"])
    assert 0 < value <= LOCKOUT
    return value


def lockouts() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.LOCKOUT).order_by("id"))


# --- the sign-in guard -----------------------------------------------------------------------


def test_thirty_wrong_passwords_then_the_right_one_does_not_sign_in_on_the_page(net, backend):
    client = Client()
    answers = [page_login(client, "nurse", WRONG).status_code for _ in range(30)]
    # Five wrong passwords are answered as such; from then on the account is locked.
    assert answers[:5] == [200] * 5
    assert answers[5:] == [429] * 25
    response = page_login(client, "nurse", PASSWORD)
    assert response.status_code == 429
    assert SESSION_KEY not in client.session
    retry_after(response)
    page = response.content.decode()
    assert "ログインの失敗が続いたため" in page
    assert "分後" in page


def test_thirty_wrong_passwords_then_the_right_one_gets_no_token(net, backend):
    api = APIClient()
    answers = [api_login(api, "nurse", WRONG).status_code for _ in range(30)]
    assert answers[:5] == [400] * 5
    assert answers[5:] == [429] * 25
    response = api_login(api, "nurse", PASSWORD)
    assert response.status_code == 429
    assert "token" not in response.json()
    error = response.json()["error"]
    assert error["code"] == "too_many_attempts"
    assert "ログインの失敗が続いたため" in error["message"]
    assert error["fields"] == {}
    retry_after(response)


def test_four_wrong_passwords_then_the_right_one_signs_in_and_starts_the_count_again(net):
    client = Client()
    for _ in range(4):
        assert page_login(client, "nurse", WRONG).status_code == 200
    assert page_login(client, "nurse", PASSWORD).status_code == 302
    for _ in range(4):
        assert page_login(Client(), "nurse", WRONG).status_code == 200
    assert page_login(Client(), "nurse", PASSWORD).status_code == 302


def test_the_lock_is_one_for_the_page_and_the_api(net):
    for _ in range(5):
        page_login(Client(), "nurse", WRONG)
    assert api_login(APIClient(), "nurse", PASSWORD).status_code == 429


def test_the_account_is_locked_whatever_the_address(net):
    for _ in range(5):
        page_login(Client(REMOTE_ADDR="192.0.2.1"), "nurse", WRONG)
    response = page_login(Client(REMOTE_ADDR="198.51.100.7"), "nurse", PASSWORD)
    assert response.status_code == 429
    # Another account, from the address that guessed, is not locked by it.
    assert page_login(Client(REMOTE_ADDR="192.0.2.1"), "primary", PASSWORD).status_code == 302


def test_the_account_name_is_counted_whatever_its_case_or_width(net):
    for name in ["NURSE", "Nurse", "ｎｕｒｓｅ", " nurse", "nurse"]:
        page_login(Client(), name, WRONG)
    assert page_login(Client(), "nurse", PASSWORD).status_code == 429


def test_an_address_that_fails_across_accounts_is_locked_for_every_account(net, backend):
    attacker = "203.0.113.9"
    for i in range(20):
        page_login(Client(REMOTE_ADDR=attacker), f"guess{i}", WRONG)
    # A real account with its right password, from that address: refused.
    response = api_login(APIClient(REMOTE_ADDR=attacker), "primary", PASSWORD)
    assert response.status_code == 429
    retry_after(response)
    assert page_login(Client(REMOTE_ADDR=attacker), "nurse", PASSWORD).status_code == 429
    # The same accounts from elsewhere are not locked.
    assert page_login(Client(REMOTE_ADDR="198.51.100.7"), "primary", PASSWORD).status_code == 302


def test_the_address_count_is_not_cleared_by_a_success(net):
    """One valid account must not clear the way for guessing the others from the same place."""
    attacker = "203.0.113.9"
    for i in range(19):
        page_login(Client(REMOTE_ADDR=attacker), f"guess{i}", WRONG)
    assert page_login(Client(REMOTE_ADDR=attacker), "primary", PASSWORD).status_code == 302
    page_login(Client(REMOTE_ADDR=attacker), "guess19", WRONG)
    assert page_login(Client(REMOTE_ADDR=attacker), "primary", PASSWORD).status_code == 429


def test_an_ipv6_client_is_counted_by_its_64(net):
    for i in range(20):
        page_login(Client(REMOTE_ADDR=f"2001:db8:1:2::{i + 1:x}"), f"guess{i}", WRONG)
    response = page_login(Client(REMOTE_ADDR="2001:db8:1:2:ffff::1"), "primary", PASSWORD)
    assert response.status_code == 429


def test_the_lock_ends_after_the_lockout(net, settings, backend):
    settings.KIZUNA_SIGN_IN_LOCKOUT_SECONDS = 1
    for _ in range(5):
        api_login(APIClient(), "nurse", WRONG)
    response = api_login(APIClient(), "nurse", PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    time.sleep(1.1)
    assert api_login(APIClient(), "nurse", PASSWORD).status_code == 200


def test_failures_outside_the_window_do_not_add_up(net, settings):
    settings.KIZUNA_SIGN_IN_WINDOW_SECONDS = 1
    for _ in range(4):
        api_login(APIClient(), "nurse", WRONG)
    time.sleep(1.1)
    api_login(APIClient(), "nurse", WRONG)
    assert api_login(APIClient(), "nurse", PASSWORD).status_code == 200


def test_the_lock_and_every_refusal_while_locked_are_audited(net):
    for _ in range(5):
        api_login(APIClient(REMOTE_ADDR="192.0.2.44"), "nurse", WRONG)
    rows = lockouts()
    assert len(rows) == 1
    assert rows[0].detail.startswith("locked account")
    assert "account=nurse" in rows[0].detail
    assert "address=192.0.2.44" in rows[0].detail
    assert rows[0].ip_address == "192.0.2.44"
    assert rows[0].actor_id is None
    page_login(Client(REMOTE_ADDR="192.0.2.45"), "nurse", PASSWORD)
    api_login(APIClient(REMOTE_ADDR="192.0.2.45"), "nurse", PASSWORD)
    rows = lockouts()
    assert len(rows) == 3
    assert all(r.detail.startswith("refused (account locked)") for r in rows[1:])
    assert {r.ip_address for r in rows[1:]} == {"192.0.2.45"}


def test_an_address_lock_is_audited_with_the_address(net):
    for i in range(20):
        api_login(APIClient(REMOTE_ADDR="203.0.113.9"), f"guess{i}", WRONG)
    locked = [r for r in lockouts() if r.detail.startswith("locked address")]
    assert len(locked) == 1
    assert "address=203.0.113.9" in locked[0].detail
    assert "account=guess19" in locked[0].detail


def test_the_lockout_page_is_in_english_for_an_english_reader(net):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _ in range(6):
        response = page_login(client, "nurse", WRONG)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert "ログインの失敗" not in page


def test_the_password_change_counts_a_wrong_current_password(net):
    client = Client()
    assert sign_in(client, net.nurse).status_code == 302
    data = {"new_password1": "kizuna-new-passphrase", "new_password2": "kizuna-new-passphrase"}
    for _ in range(5):
        response = client.post("/account/password/", {"old_password": WRONG, **data})
        assert response.status_code == 200  # the form again, with its error
    response = client.post("/account/password/", {"old_password": PASSWORD, **data})
    assert response.status_code == 429
    net.nurse.refresh_from_db()
    assert net.nurse.check_password(PASSWORD)
    # And the account's sign-in is locked with it.
    assert api_login(APIClient(), "nurse", PASSWORD).status_code == 429
    assert lockouts()[0].actor_id == net.nurse.pk


def test_the_admin_login_is_guarded(net):
    UserFactory(username="staffer", is_staff=True)
    client = Client()
    for _ in range(5):
        response = client.post("/admin/login/", {"username": "staffer", "password": WRONG})
        assert response.status_code == 200
    response = client.post("/admin/login/", {"username": "staffer", "password": PASSWORD})
    assert response.status_code == 429


def test_wrong_second_factor_codes_lock_the_account_for_passwords_too(net, backend):
    """The second factor's step (the lead's TOTP) calls the same guard with its own kind."""
    for _ in range(4):
        throttle.guard("second_factor", account="nurse", address="192.0.2.1")
        throttle.failed("second_factor", account="nurse", address="192.0.2.1", actor=net.nurse)
        # A known password clears the password's count, never the count of wrong codes.
        throttle.succeeded("password", account="nurse", address="192.0.2.1")
    throttle.failed("second_factor", account="nurse", address="192.0.2.1", actor=net.nurse)
    with pytest.raises(Throttled) as refused:
        throttle.guard("second_factor", account="nurse", address="192.0.2.1")
    assert refused.value.code == "too_many_attempts"
    assert api_login(APIClient(), "nurse", PASSWORD).status_code == 429
    assert lockouts()[0].actor_id == net.nurse.pk
    assert "kind=second_factor" in lockouts()[0].detail


def test_a_second_factor_success_clears_both_counts(net):
    for _ in range(4):
        throttle.failed("password", account="nurse", address=None)
        throttle.failed("second_factor", account="nurse", address=None)
    throttle.succeeded("second_factor", account="nurse")
    for _ in range(4):
        throttle.failed("password", account="nurse", address=None)
        throttle.failed("second_factor", account="nurse", address=None)
    throttle.guard("password", account="nurse", address=None)  # not locked


def test_an_unknown_kind_is_a_programming_error(db):
    with pytest.raises(ValueError, match="kind"):
        throttle.guard("pin", account="nurse", address=None)


# --- rate limits per person ------------------------------------------------------------------


def limits(settings: Any, action: str, per_minute: float, burst: int) -> None:
    settings.KIZUNA_RATE_LIMITS = {
        **django_settings.KIZUNA_RATE_LIMITS,
        action: {"per_minute": per_minute, "burst": burst},
    }


def test_a_burst_within_the_limit_passes_and_the_next_is_refused(net, settings, backend):
    limits(settings, "search", per_minute=1, burst=10)
    for _ in range(10):
        throttle.limit("search", net.nurse)
    with pytest.raises(Throttled) as refused:
        throttle.limit("search", net.nurse)
    assert refused.value.code == "rate_limited"
    assert 55 <= refused.value.retry_after <= 60  # one request's worth at 1 a minute
    # Per person: the pharmacist has a bucket of their own.
    throttle.limit("search", net.pharmacist)


def test_the_bucket_refills_at_the_sustained_rate(net, settings, backend):
    limits(settings, "post", per_minute=60, burst=2)  # one more every second
    throttle.limit("post", net.nurse)
    throttle.limit("post", net.nurse)
    with pytest.raises(Throttled) as refused:
        throttle.limit("post", net.nurse)
    assert refused.value.retry_after == 1
    time.sleep(1.05)
    throttle.limit("post", net.nurse)
    with pytest.raises(Throttled):
        throttle.limit("post", net.nurse)


def test_a_limit_of_zero_is_off(net, settings):
    limits(settings, "upload", per_minute=0, burst=0)
    for _ in range(50):
        throttle.limit("upload", net.nurse)


def test_the_default_limits_allow_a_burst_and_stop_a_flood(net):
    for _ in range(20):
        throttle.limit("search", net.nurse)
    with pytest.raises(Throttled):
        throttle.limit("search", net.nurse)


def test_the_directory_search_api_is_limited(net, api_as, settings):
    limits(settings, "search", per_minute=1, burst=2)
    api = api_as(net.nurse)
    for _ in range(2):
        assert api.get("/api/v1/organizations/", {"q": "クリニック"}).status_code == 200
    response = api.get("/api/v1/organizations/", {"q": "クリニック"})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert "検索が多すぎます" in response.json()["error"]["message"]
    assert 0 < int(response["Retry-After"]) <= 60
    # A list without a free-text query is not a search.
    assert api.get("/api/v1/organizations/").status_code == 200
    assert api.get("/api/v1/people/", {"q": "鈴木"}).status_code == 429
    assert api.get("/api/v1/organizations/export.csv", {"q": "薬局"}).status_code == 429
    assert api.get("/api/v1/patients/", {"q": "小林"}).status_code == 429


def test_the_directory_page_search_is_limited(net, settings):
    limits(settings, "search", per_minute=1, burst=1)
    client = Client()
    client.force_login(net.nurse)
    assert client.get("/directory/", {"q": "薬局"}).status_code == 200
    response = client.get("/directory/", {"q": "薬局"})
    assert response.status_code == 429
    assert "検索が多すぎます" in response.content.decode()
    assert 0 < int(response["Retry-After"]) <= 60
    assert client.get("/directory/").status_code == 200
    assert client.get("/", {"q": "小林"}).status_code == 429  # the patient list's search


def test_the_csv_import_is_limited(net, api_as, settings):
    limits(settings, "upload", per_minute=1, burst=1)
    api = api_as(net.coordinator)

    def upload() -> Any:
        content = "name,kind\n新しい診療所,clinic\n".encode()
        csv_file = SimpleUploadedFile("directory.csv", content, content_type="text/csv")
        return api.post("/api/v1/organizations/import/", {"file": csv_file}, format="multipart")

    assert upload().status_code == 200
    response = upload()
    assert response.status_code == 429
    assert "アップロードが多すぎます" in response.json()["error"]["message"]
    assert 0 < int(response["Retry-After"]) <= 60


def test_the_limit_is_not_checked_when_the_cache_is_down(net, settings, monkeypatch):
    """Fails open: messaging stays up without Redis (the module's docstring says why)."""
    monkeypatch.setattr(throttle, "_skip_until", 0.0)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    limits(settings, "post", per_minute=1, burst=1)
    for _ in range(3):
        throttle.limit("post", net.nurse)
    assert throttle._skip_until > time.monotonic()  # the next posts skip the dead cache
    throttle.failed("password", account="nurse", address=None)
    throttle.guard("password", account="nurse", address=None)


def test_the_schema_says_which_operations_may_answer_429_with_retry_after(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    throttled = {
        (method, path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "429" in operation.get("responses", {})
    }
    assert throttled == {
        ("post", "/api/v1/auth/token/"),
        ("post", "/api/v1/threads/{thread_id}/messages/"),
        ("get", "/api/v1/search/"),
        ("get", "/api/v1/organizations/"),
        ("get", "/api/v1/organizations/export.csv"),
        ("get", "/api/v1/people/"),
        ("get", "/api/v1/patients/"),
        ("post", "/api/v1/organizations/import/"),
        # Requests and their replies are posts; photos are limited per uploader.
        ("post", "/api/v1/threads/{thread_id}/requests/"),
        ("post", "/api/v1/requests/{request_id}/reply/"),
        ("post", "/api/v1/attachments/"),
    }
    answer = schema["paths"]["/api/v1/search/"]["get"]["responses"]["429"]
    assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer"
