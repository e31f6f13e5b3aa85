"""A person's ways in: changing the password, logging out, listing and ending one's sessions
and API tokens, and an organization administrator ending all of a person's access."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditAction, AuditEvent
from teams.models import ApiToken, Membership, User, UserSession
from tests.factories import PASSWORD
from tests.signin import sign_in, token_request

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "kizuna-new-passphrase-2026"


def signed_in_client(user: User, agent: str = "Tablet A") -> Client:
    """Signed in through the login form, as a browser is (so its device is recorded)."""
    client = Client(HTTP_USER_AGENT=agent)
    response = sign_in(client, user)
    assert response.status_code == 302
    return client


def token_for(user: User, agent: str = "App") -> str:
    api = APIClient(HTTP_USER_AGENT=agent)
    response = api.post("/api/v1/auth/token/", token_request(user))
    assert response.status_code == 200
    return str(response.json()["token"])


def token_works(token: str) -> bool:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api.get("/api/v1/me/").status_code == 200


def page_works(client: Client) -> bool:
    return client.get("/account/devices/").status_code == 200


# --- password change ------------------------------------------------------------------------


def test_the_password_page_is_linked_from_the_header_and_is_japanese_first(net):
    client = signed_in_client(net.nurse)
    home = client.get("/").content.decode()
    assert 'href="/account/devices/"' in home
    page = client.get("/account/password/").content.decode()
    assert "パスワードの変更" in page
    assert 'href="/account/password/"' in client.get("/account/devices/").content.decode()


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short-pw1", "短すぎます"),  # under 12 characters
        ("password1234", "よく使われる"),  # a common password
        ("384729105738", "数字だけ"),  # all digits
    ],
)
def test_the_new_password_goes_through_djangos_validators(net, new, message):
    client = signed_in_client(net.nurse)
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    net.nurse.refresh_from_db()
    assert net.nurse.check_password(PASSWORD)


def test_the_current_password_must_be_right_and_the_new_one_typed_twice(net):
    client = signed_in_client(net.nurse)
    wrong = client.post(
        "/account/password/",
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200
    differ = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": "other"},
    )
    assert differ.status_code == 200
    net.nurse.refresh_from_db()
    assert net.nurse.check_password(PASSWORD)


def test_changing_the_password_keeps_this_session_and_ends_the_others_and_every_token(net):
    here = signed_in_client(net.nurse, "Tablet A")
    elsewhere = signed_in_client(net.nurse, "Phone B")
    tokens = [token_for(net.nurse), token_for(net.nurse)]
    other_person = signed_in_client(net.pharmacist)
    response = here.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    net.nurse.refresh_from_db()
    assert net.nurse.check_password(NEW_PASSWORD)
    assert page_works(here)
    assert elsewhere.get("/account/devices/").status_code == 302  # to the login page
    assert not any(token_works(t) for t in tokens)
    assert page_works(other_person)
    rows = UserSession.objects.filter(user=net.nurse)
    assert [r.user_agent for r in rows] == ["Tablet A"]
    # The row follows the session's new key (update_session_auth_hash cycles it).
    assert rows[0].session_key == here.session.session_key
    assert Session.objects.filter(session_key=rows[0].session_key).exists()
    event = AuditEvent.objects.get(actor_id=net.nurse.pk, object_type="teams.user")
    assert event.action == AuditAction.UPDATE
    assert "password changed" in event.detail


# --- logout ---------------------------------------------------------------------------------


def test_logout_ends_that_session_and_the_tokens_asked_for_from_it(net):
    web = signed_in_client(net.nurse)
    from_session = web.post("/api/v1/auth/token/", token_request(net.nurse)).json()["token"]
    other_device = token_for(net.nurse)
    other_session = signed_in_client(net.nurse, "Phone B")
    assert web.post("/logout/").status_code == 302
    assert not token_works(from_session)
    assert token_works(other_device)  # another device's token is its own
    assert page_works(other_session)
    assert list(
        UserSession.objects.filter(user=net.nurse).values_list("user_agent", flat=True)
    ) == ["Phone B"]


# --- devices --------------------------------------------------------------------------------


def test_a_person_lists_their_sessions_and_tokens_on_the_page_and_the_api(net):
    web = signed_in_client(net.nurse, "Tablet A")
    signed_in_client(net.nurse, "Phone B")
    token_for(net.nurse, "Kizuna iOS")
    token_for(net.pharmacist, "Someone else's app")
    page = web.get("/account/devices/").content.decode()
    assert "Tablet A" in page
    assert "Phone B" in page
    assert "Kizuna iOS" in page
    assert "Someone else" not in page
    data = web.get("/api/v1/me/devices/").json()
    assert sorted(s["user_agent"] for s in data["sessions"]) == ["Phone B", "Tablet A"]
    assert [s["current"] for s in data["sessions"] if s["user_agent"] == "Tablet A"] == [True]
    assert [t["user_agent"] for t in data["tokens"]] == ["Kizuna iOS"]
    assert set(data["tokens"][0]) == {
        "id",
        "user_agent",
        "ip_address",
        "created_at",
        "last_used_at",
        "current",
    }


def test_a_person_ends_one_of_their_sessions_and_tokens(net):
    web = signed_in_client(net.nurse, "Tablet A")
    phone = signed_in_client(net.nurse, "Phone B")
    token = token_for(net.nurse)
    phone_row = UserSession.objects.get(user=net.nurse, user_agent="Phone B")
    token_row = ApiToken.objects.get(user=net.nurse)
    assert web.post(f"/account/devices/sessions/{phone_row.pk}/end/").status_code == 302
    assert phone.get("/account/devices/").status_code == 302
    assert web.delete(f"/api/v1/me/tokens/{token_row.pk}/").status_code == 204
    assert not token_works(token)
    assert page_works(web)
    assert (
        AuditEvent.objects.filter(
            actor_id=net.nurse.pk,
            action=AuditAction.DELETE,
            object_type__in=["teams.usersession", "teams.apitoken"],
        ).count()
        == 2
    )


def test_ending_ones_own_session_from_the_page_signs_out(net):
    web = signed_in_client(net.nurse)
    row = UserSession.objects.get(user=net.nurse)
    response = web.post(f"/account/devices/sessions/{row.pk}/end/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert web.get("/account/devices/").status_code == 302


def test_someone_elses_session_or_token_is_404(net):
    other = signed_in_client(net.pharmacist)
    token_for(net.pharmacist)
    session_row = UserSession.objects.get(user=net.pharmacist)
    token_row = ApiToken.objects.get(user=net.pharmacist)
    web = signed_in_client(net.nurse)
    assert web.post(f"/account/devices/sessions/{session_row.pk}/end/").status_code == 404
    assert web.post(f"/account/devices/tokens/{token_row.pk}/end/").status_code == 404
    assert web.delete(f"/api/v1/me/sessions/{session_row.pk}/").status_code == 404
    assert web.delete(f"/api/v1/me/tokens/{token_row.pk}/").status_code == 404
    assert page_works(other)
    assert ApiToken.objects.filter(pk=token_row.pk).exists()


# --- an administrator ends a person's access ------------------------------------------------


@pytest.fixture
def admin(net):
    """primary administers the lead clinic, where coordinator and outsider also work."""
    Membership.objects.filter(user=net.primary, organization=net.lead_clinic).update(is_admin=True)
    return net.primary


def test_an_administrator_ends_every_session_and_token_of_a_person_of_theirs(net, admin):
    victim_web = signed_in_client(net.outsider)
    victim_token = token_for(net.outsider)
    bystander = signed_in_client(net.coordinator)
    admin_web = signed_in_client(admin)
    page = admin_web.get(f"/account/people/{net.outsider.pk}/")
    assert page.status_code == 200
    response = admin_web.post(f"/account/people/{net.outsider.pk}/")
    assert response.status_code == 302
    assert victim_web.get("/account/devices/").status_code == 302
    assert not token_works(victim_token)
    assert page_works(bystander)
    assert page_works(admin_web)
    event = AuditEvent.objects.get(actor_id=admin.pk, object_type="teams.user")
    assert event.action == AuditAction.DELETE
    assert event.object_id == str(net.outsider.pk)
    assert "1 sessions, 1 tokens" in event.detail


def test_the_api_lets_an_administrator_end_a_persons_access(net, admin):
    token = token_for(net.outsider)
    api = APIClient()
    api.force_authenticate(admin)
    response = api.post(f"/api/v1/people/{net.outsider.pk}/end-access/")
    assert response.status_code == 200
    assert response.json() == {"sessions": 0, "tokens": 1}
    assert not token_works(token)


def test_a_person_outside_the_administrators_organizations_is_404(net, admin):
    token = token_for(net.nurse)  # at the nursing station
    admin_web = signed_in_client(admin)
    assert admin_web.get(f"/account/people/{net.nurse.pk}/").status_code == 404
    assert admin_web.post(f"/account/people/{net.nurse.pk}/").status_code == 404
    assert admin_web.post(f"/api/v1/people/{net.nurse.pk}/end-access/").status_code == 404
    assert token_works(token)
    assert not AuditEvent.objects.filter(actor_id=admin.pk, object_type="teams.user").exists()


def test_someone_who_administers_nothing_is_403(net, admin):
    token = token_for(net.outsider)
    colleague = signed_in_client(net.coordinator)  # same clinic, not its administrator
    assert colleague.get(f"/account/people/{net.outsider.pk}/").status_code == 403
    assert colleague.post(f"/api/v1/people/{net.outsider.pk}/end-access/").status_code == 403
    assert token_works(token)
