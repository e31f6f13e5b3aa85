"""Intake, attaching, downloading and bad input, through the API (issue 12, items 1-4 and 7)."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent
from media import services
from media.models import Attachment, State
from messaging import services as messaging_services
from messaging.models import Message
from tests.factories import CareTeamMemberFactory, ConsentFactory, PatientFactory
from tests.media import photos
from tests.media.conftest import stored_files

pytestmark = pytest.mark.django_db


def _book(net):
    return messaging_services.contact_book_ensure(net.patient)


def _post(api_as, user, thread, ids, **extra):
    body = {"client_id": str(uuid.uuid4()), "body": "褥瘡の写真です。", "attachments": ids}
    body.update(extra)
    return api_as(user).post(f"/api/v1/threads/{thread.pk}/messages/", body, format="json")


def test_an_upload_is_stored_sanitised_with_its_derivatives(net, upload, photo_storage):
    answer = upload(net.nurse, photos.jpeg(), body_site="sacrum", caption="発赤あり")
    assert answer.status_code == 201, answer.content
    data = answer.json()
    row = Attachment.objects.get(pk=data["id"])
    assert data["state"] == "processing"  # the answer does not wait for the worker
    assert row.state == "ready"  # made after the commit (eager in these tests)
    assert data["body_site"] == "sacrum"
    assert data["caption"] == "発赤あり"
    assert data["taken_at_source"] == "exif"
    assert row.uploaded_by == net.nurse
    assert row.patient == net.patient
    assert row.message is None
    assert len(stored_files(photo_storage)) == 3  # the photo, its thumbnail, its display size


def test_a_retried_upload_returns_the_first_one(net, upload):
    cid = uuid.uuid4()
    first = upload(net.nurse, photos.jpeg(), client_id=cid)
    again = upload(net.nurse, photos.jpeg(), client_id=cid)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Attachment.objects.count() == 1


def test_an_upload_writes_an_audit_row(net, upload):
    answer = upload(net.nurse, photos.jpeg())
    assert AuditEvent.objects.filter(
        actor=net.nurse, action="create", patient=net.patient, object_id=answer.json()["id"]
    ).exists()


def test_an_outsider_cannot_upload_for_the_patient(net, upload):
    answer = upload(net.outsider, photos.jpeg())
    assert answer.status_code == 404
    assert Attachment.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "空"),
        (photos.gif(), "対応していない形式"),
        (photos.truncated(), "切れて"),
        (photos.bomb(), "画素数"),
        (photos.html_polyglot(), "画像以外のデータ"),
        (photos.zip_polyglot(), "画像以外のデータ"),
    ],
    ids=["zero-byte", "gif", "truncated", "bomb", "html-polyglot", "zip-polyglot"],
)
def test_a_bad_file_gets_400_and_stores_nothing(net, upload, photo_storage, data, reason):
    answer = upload(net.nurse, data, name="photo.jpg")
    assert answer.status_code == 400
    assert reason in answer.json()["error"]["fields"]["file"][0]
    assert Attachment.objects.count() == 0
    assert stored_files(photo_storage) == []


def test_a_file_named_jpg_that_is_html_is_refused(net, upload):
    answer = upload(net.nurse, b"<!doctype html><p>hi</p>", name="photo.jpg")
    assert answer.status_code == 400
    assert "file" in answer.json()["error"]["fields"]


def test_an_upload_without_a_file_gets_400(net, upload):
    answer = upload(net.nurse, None)
    assert answer.status_code == 400
    assert "file" in answer.json()["error"]["fields"]


def test_other_body_site_needs_its_text(net, upload):
    answer = upload(net.nurse, photos.jpeg(), body_site="other")
    assert answer.status_code == 400
    assert "body_site_other" in answer.json()["error"]["fields"]


def test_the_gps_of_an_uploaded_jpeg_and_heic_is_in_no_stored_file(net, upload, photo_storage):
    for data in (photos.jpeg(), photos.heic()):
        assert photos.has_gps_block(data)  # it was there
        assert upload(net.nurse, data).status_code == 201
    files = stored_files(photo_storage)
    assert len(files) == 6
    for path in files:
        raw = path.read_bytes()
        image = Image.open(io.BytesIO(raw))
        assert image.format == "JPEG"
        assert not image.getexif().get_ifd(photos.GPS_IFD)
        assert not image.getexif()
        assert not photos.has_gps_block(raw)
        assert photos.SERIAL.encode() not in raw


# --- attaching ------------------------------------------------------------------------------


def test_a_post_carries_its_photos_in_order(net, upload, api_as):
    ids = [upload(net.nurse, photos.jpeg()).json()["id"] for _ in range(2)]
    answer = _post(api_as, net.nurse, _book(net), ids)
    assert answer.status_code == 201, answer.content
    shown = answer.json()["attachments"]
    assert [a["id"] for a in shown] == ids
    assert shown[0]["urls"]["thumb"].endswith("/thumb/")
    message = Message.objects.get(pk=answer.json()["id"])
    assert list(message.attachments.order_by("position").values_list("position", flat=True)) == [
        0,
        1,
    ]


def test_the_thread_page_shows_the_photos_with_a_fixed_number_of_queries(net, upload, api_as):
    book = _book(net)
    for _ in range(3):
        ids = [upload(net.nurse, photos.jpeg()).json()["id"] for _ in range(2)]
        _post(api_as, net.nurse, book, ids)
    client = api_as(net.primary)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/api/v1/threads/{book.pk}/messages/")
    ids = [upload(net.nurse, photos.jpeg()).json()["id"] for _ in range(3)]
    _post(api_as, net.nurse, book, ids)
    client = api_as(net.primary)
    with CaptureQueriesContext(connection) as more:
        answer = client.get(f"/api/v1/threads/{book.pk}/messages/")
    assert len(more) == len(few)
    assert [len(m["attachments"]) for m in answer.json()["results"]] == [3, 2, 2, 2]


def test_eleven_photos_are_refused(net, upload, api_as):
    ids = [upload(net.nurse, photos.jpeg()).json()["id"] for _ in range(11)]
    answer = _post(api_as, net.nurse, _book(net), ids)
    assert answer.status_code == 400
    assert "10枚" in answer.json()["error"]["fields"]["attachments"][0]
    assert Message.objects.count() == 0


def test_another_uploaders_photo_cannot_be_attached(net, upload, api_as):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    answer = _post(api_as, net.primary, _book(net), [photo])
    assert answer.status_code == 400
    assert "attachments" in answer.json()["error"]["fields"]
    assert Attachment.objects.get(pk=photo).message is None


def test_another_patients_photo_cannot_be_attached(net, upload, api_as):
    other = PatientFactory(managing_organization=net.lead_clinic)
    ConsentFactory(patient=other, recorded_by=net.primary)
    CareTeamMemberFactory(patient=other, user=net.nurse, organization=net.station)
    photo = upload(net.nurse, photos.jpeg(), patient=other.pk).json()["id"]
    answer = _post(api_as, net.nurse, _book(net), [photo])
    assert answer.status_code == 400
    assert Message.objects.count() == 0


def test_a_photo_is_attached_once_only(net, upload, api_as):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    assert _post(api_as, net.nurse, _book(net), [photo]).status_code == 201
    again = _post(api_as, net.nurse, _book(net), [photo])
    assert again.status_code == 400
    assert "すでに" in again.json()["error"]["fields"]["attachments"][0]
    assert Message.objects.count() == 1


def test_a_retried_post_with_photos_returns_the_first(net, upload, api_as):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    cid = str(uuid.uuid4())
    first = _post(api_as, net.nurse, _book(net), [photo], client_id=cid)
    again = _post(api_as, net.nurse, _book(net), [photo], client_id=cid)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["attachments"][0]["id"] == photo


def test_a_post_whose_upload_failed_is_refused(net, api_as):
    never_uploaded = str(uuid.uuid4())
    answer = _post(api_as, net.nurse, _book(net), [never_uploaded])
    assert answer.status_code == 400
    assert "見つかりません" in answer.json()["error"]["fields"]["attachments"][0]
    assert Message.objects.count() == 0


def test_a_photo_whose_processing_failed_cannot_be_attached(net, upload, api_as):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    Attachment.objects.filter(pk=photo).update(state=State.FAILED, thumb_file="", display_file="")
    answer = _post(api_as, net.nurse, _book(net), [photo])
    assert answer.status_code == 400
    assert Message.objects.count() == 0


def test_a_garbage_attachment_id_gets_400(net, api_as):
    answer = _post(api_as, net.nurse, _book(net), ["not-a-uuid"])
    assert answer.status_code == 400
    assert "attachments" in answer.json()["error"]["fields"]


def test_photos_cannot_go_to_a_coordination_thread(net, upload, api_as):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    thread = messaging_services.thread_create_coordination(
        net.nurse, title="連絡", organization_id=net.station.pk
    )
    answer = _post(api_as, net.nurse, thread, [photo])
    assert answer.status_code == 400


# --- downloading ----------------------------------------------------------------------------


def _posted_photo(net, upload, api_as):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    _post(api_as, net.nurse, _book(net), [photo])
    return photo


@pytest.mark.parametrize("variant", ["full", "display", "thumb"])
def test_a_team_member_downloads_a_photo_with_safe_headers(net, upload, api_as, variant):
    photo = _posted_photo(net, upload, api_as)
    answer = api_as(net.primary).get(f"/api/v1/attachments/{photo}/{variant}/")
    assert answer.status_code == 200
    body = b"".join(answer.streaming_content)
    assert Image.open(io.BytesIO(body)).format == "JPEG"
    assert answer["Content-Type"] == "image/jpeg"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Cache-Control"] == "private, no-store"
    assert answer["Content-Disposition"].startswith("inline; filename=")
    assert answer["Content-Disposition"].endswith('.jpg"')


def test_each_download_writes_an_audit_row(net, upload, api_as):
    photo = _posted_photo(net, upload, api_as)
    api_as(net.primary).get(f"/api/v1/attachments/{photo}/full/")
    api_as(net.primary).get(f"/api/v1/attachments/{photo}/thumb/")
    rows = AuditEvent.objects.filter(actor=net.primary, action="read", object_id=photo)
    assert sorted(rows.values_list("detail", flat=True)) == ["full", "thumb"]
    assert {r.patient_id for r in rows} == {net.patient.pk}


@pytest.mark.parametrize("who", ["outsider", "stranger", "coordinator"])
def test_anyone_off_the_team_gets_404_for_a_download(net, upload, api_as, who):
    photo = _posted_photo(net, upload, api_as)
    answer = api_as(getattr(net, who)).get(f"/api/v1/attachments/{photo}/full/")
    assert answer.status_code == 404


def test_an_unattached_upload_is_seen_by_its_uploader_only(net, upload, api_as):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    assert api_as(net.nurse).get(f"/api/v1/attachments/{photo}/thumb/").status_code == 200
    assert api_as(net.primary).get(f"/api/v1/attachments/{photo}/thumb/").status_code == 404


def test_a_deleted_messages_photos_are_gone(net, upload, api_as):
    photo = _posted_photo(net, upload, api_as)
    messaging_services.message_delete(net.nurse, thread=_book(net).pk, seq=1)
    assert api_as(net.primary).get(f"/api/v1/attachments/{photo}/full/").status_code == 404


def test_garbage_ids_and_variants_get_404(net, upload, api_as):
    photo = _posted_photo(net, upload, api_as)
    client = api_as(net.primary)
    assert client.get("/api/v1/attachments/nope/full/").status_code == 404
    assert client.get(f"/api/v1/attachments/{uuid.uuid4()}/full/").status_code == 404
    assert client.get(f"/api/v1/attachments/{photo}/original/").status_code == 404


def test_with_x_accel_nginx_sends_the_file(net, upload, api_as, settings):
    photo = _posted_photo(net, upload, api_as)
    settings.KIZUNA_X_ACCEL = True
    answer = api_as(net.primary).get(f"/api/v1/attachments/{photo}/display/")
    assert answer.status_code == 200
    row = Attachment.objects.get(pk=photo)
    assert answer["X-Accel-Redirect"] == "/protected-media/" + row.display_file
    assert answer["Content-Type"] == "image/jpeg"
    assert answer["Cache-Control"] == "private, no-store"
    assert answer.content == b""


# --- the gallery and the wound timeline -----------------------------------------------------


def test_the_wound_timeline_lists_one_sites_photos_oldest_first(net, upload, api_as):
    early = photos.jpeg(taken="2026:11:01 09:00:00")
    late = photos.jpeg(taken="2026:11:20 09:00:00")
    ids = [
        upload(net.nurse, late, body_site="sacrum").json()["id"],
        upload(net.nurse, early, body_site="sacrum").json()["id"],
        upload(net.nurse, early, body_site="left_heel").json()["id"],
    ]
    _post(api_as, net.nurse, _book(net), ids)
    answer = api_as(net.primary).get(
        f"/api/v1/patients/{net.patient.pk}/photos/", {"body_site": "sacrum"}
    )
    assert answer.status_code == 200
    assert [a["id"] for a in answer.json()["results"]] == [ids[1], ids[0]]


def test_the_photo_list_runs_a_fixed_number_of_queries(net, upload, api_as):
    ids = [upload(net.nurse, photos.jpeg()).json()["id"] for _ in range(2)]
    _post(api_as, net.nurse, _book(net), ids)
    url = f"/api/v1/patients/{net.patient.pk}/photos/"
    client = api_as(net.primary)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    ids = [upload(net.nurse, photos.jpeg()).json()["id"] for _ in range(5)]
    _post(api_as, net.nurse, _book(net), ids)
    client = api_as(net.primary)
    with CaptureQueriesContext(connection) as more:
        answer = client.get(url)
    assert answer.json()["count"] == 7
    assert len(more) == len(few)


def test_an_outsider_gets_404_for_the_photo_list(net, api_as):
    answer = api_as(net.outsider).get(f"/api/v1/patients/{net.patient.pk}/photos/")
    assert answer.status_code == 404


# --- nothing half-stored --------------------------------------------------------------------


def test_a_failure_after_the_file_is_written_leaves_no_file_and_no_row(
    net, upload, photo_storage, monkeypatch
):
    def broken_audit(*args, **kwargs):
        raise RuntimeError("the database went away mid-upload")

    monkeypatch.setattr(services, "audit_record", broken_audit)
    with pytest.raises(RuntimeError):
        services.attachment_upload(
            net.nurse,
            patient_id=net.patient.pk,
            client_id=uuid.uuid4(),
            upload=io.BytesIO(photos.jpeg()),
        )
    assert Attachment.objects.count() == 0
    assert stored_files(photo_storage) == []


def test_a_failure_between_derivatives_leaves_no_stray_file(
    net, upload, photo_storage, monkeypatch, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the task is run by hand below
    monkeypatch.setattr("media.receivers.make_derivatives.delay", lambda *a: None)
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    saved = services.files.save
    calls = []

    def second_save_fails(name, data):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return saved(name, data)

    monkeypatch.setattr(services.files, "save", second_save_fails)
    with pytest.raises(OSError, match="disk full"):
        services.make_derivatives(photo)
    row = Attachment.objects.get(pk=photo)
    assert row.state == State.PROCESSING
    assert [p.name.split("-")[0] for p in stored_files(photo_storage)] == ["full"]
    monkeypatch.setattr(services.files, "save", saved)
    assert services.make_derivatives(photo) is True
    assert len(stored_files(photo_storage)) == 3


def test_a_post_whose_attach_fails_midway_stores_no_message(net, upload, api_as, monkeypatch):
    ids = [upload(net.nurse, photos.jpeg()).json()["id"] for _ in range(2)]
    real_attach = services.attach

    def attach_then_fail(user, *, message_id, patient_id, ids):
        real_attach(user, message_id=message_id, patient_id=patient_id, ids=ids)
        raise RuntimeError("crash after the photos were attached")

    monkeypatch.setattr("messaging.services.media_services.attach", attach_then_fail)
    with pytest.raises(RuntimeError):
        _post(api_as, net.nurse, _book(net), ids)
    assert Message.objects.count() == 0
    assert Attachment.objects.filter(message__isnull=False).count() == 0


# --- the sweep ------------------------------------------------------------------------------


def test_uploads_unattached_after_24_hours_are_deleted_with_their_files(
    net, upload, api_as, photo_storage, django_capture_on_commit_callbacks
):
    stale = upload(net.nurse, photos.jpeg()).json()["id"]
    fresh = upload(net.nurse, photos.jpeg()).json()["id"]
    posted = _posted_photo(net, upload, api_as)
    Attachment.objects.filter(pk__in=[stale, posted]).update(
        uploaded_at=timezone.now() - dt.timedelta(hours=25)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delete_unattached() == 1
    assert set(Attachment.objects.values_list("pk", flat=True)) == {
        uuid.UUID(fresh),
        uuid.UUID(posted),
    }
    assert len(stored_files(photo_storage)) == 6
    assert not any(stale.replace("-", "") in str(p) for p in stored_files(photo_storage))


def test_the_sweep_requeues_photos_stuck_processing(net, upload, settings, monkeypatch):
    monkeypatch.setattr("media.receivers.make_derivatives.delay", lambda *a: None)
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    Attachment.objects.filter(pk=photo).update(uploaded_at=timezone.now() - dt.timedelta(hours=1))
    assert services.stuck_photos() == [uuid.UUID(photo)]
