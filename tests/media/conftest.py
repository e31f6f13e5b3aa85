"""Fixtures of the photo tests: a private storage directory per test, and uploads."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from config.celery import app


@pytest.fixture(autouse=True)
def photo_storage(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": "/nowhere/"},
        },
    }
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture(autouse=True)
def eager_tasks() -> Iterator[None]:
    """Tasks run at once, in the test, as in the embedded mode (the real worker has its own
    test: test_worker.py)."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def upload_file(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> Any:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def upload(api_as: Any, net: Any, django_capture_on_commit_callbacks: Any):
    """`upload(user, data, **fields)`: POST the photo to the API (and run what its commit
    queues: the derivatives); returns the response."""

    def send(user: Any, data: bytes | None = None, **fields: Any) -> Any:
        client = api_as(user)
        body: dict[str, Any] = {
            "client_id": str(fields.pop("client_id", uuid.uuid4())),
            "patient": fields.pop("patient", net.patient.pk),
            **fields,
        }
        if data is not None:
            body["file"] = io.BytesIO(data)
            body["file"].name = fields.pop("name", "photo.jpg")
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post("/api/v1/attachments/", body, format="multipart")
        return answer

    return send
