"""Photos on S3-compatible object storage (django-storages), against a real S3 server: moto's
server mode, started by this test session on a loopback port (no mock inside the process)."""

from __future__ import annotations

import datetime as dt
import io
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.utils import timezone
from PIL import Image

from media import services
from media.models import Attachment
from messaging import services as messaging_services
from tests.media import photos

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "kizuna-photos-test"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start; see {log}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint: str, settings: Any) -> Any:
    """The attachments storage on the moto server, in a fresh bucket; the boto3 client to
    read it back with."""
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **KEYS)
    bucket = f"{BUCKET}-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": KEYS["aws_access_key_id"],
                "secret_key": KEYS["aws_secret_access_key"],
                "default_acl": "private",
                "file_overwrite": False,
            },
        },
    }
    client.kizuna_bucket = bucket
    return client


def _objects(s3: Any) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=s3.kizuna_bucket).get("Contents", [])
    return {
        o["Key"]: s3.get_object(Bucket=s3.kizuna_bucket, Key=o["Key"])["Body"].read()
        for o in listed
    }


def test_photos_go_to_s3_sanitised_with_their_derivatives(net, upload, s3):
    for data in (photos.jpeg(), photos.heic()):
        assert upload(net.nurse, data).status_code == 201
    stored = _objects(s3)
    assert len(stored) == 6  # two photos, each with its thumbnail and display size
    for key, raw in stored.items():
        assert Image.open(io.BytesIO(raw)).format == "JPEG"
        assert not photos.has_gps_block(raw), key
        assert photos.SERIAL.encode() not in raw


def test_s3_objects_are_private(net, upload, s3):
    upload(net.nurse, photos.jpeg())
    for key in _objects(s3):
        grants = s3.get_object_acl(Bucket=s3.kizuna_bucket, Key=key)["Grants"]
        assert not [g for g in grants if "AllUsers" in str(g.get("Grantee", {}).get("URI", ""))]


def test_a_download_streams_from_s3_through_the_gate(net, upload, api_as, s3):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    book = messaging_services.contact_book_ensure(net.patient)
    api_as(net.nurse).post(
        f"/api/v1/threads/{book.pk}/messages/",
        {"client_id": str(uuid.uuid4()), "body": "写真", "attachments": [photo]},
        format="json",
    )
    answer = api_as(net.primary).get(f"/api/v1/attachments/{photo}/display/")
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "private, no-store"
    body = b"".join(answer.streaming_content)
    row = Attachment.objects.get(pk=photo)
    assert body == _objects(s3)[row.display_file]
    assert api_as(net.outsider).get(f"/api/v1/attachments/{photo}/display/").status_code == 404


def test_a_failed_upload_leaves_no_object_on_s3(net, s3, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "audit_record", broken)
    with pytest.raises(RuntimeError):
        services.attachment_upload(
            net.nurse,
            patient_id=net.patient.pk,
            client_id=uuid.uuid4(),
            upload=io.BytesIO(photos.jpeg()),
        )
    assert _objects(s3) == {}
    assert Attachment.objects.count() == 0


def test_the_sweep_deletes_the_objects_of_stale_uploads(
    net, upload, s3, django_capture_on_commit_callbacks
):
    photo = upload(net.nurse, photos.jpeg()).json()["id"]
    Attachment.objects.filter(pk=photo).update(uploaded_at=timezone.now() - dt.timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.delete_unattached() == 1
    assert _objects(s3) == {}
