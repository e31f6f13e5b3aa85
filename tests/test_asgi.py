"""The ASGI entry point: Django's sync chain in one hop, and the collector tuned for a server."""

from __future__ import annotations

import gc

import pytest
from asgiref.sync import iscoroutinefunction
from channels.testing import HttpCommunicator
from django.core.handlers.asgi import ASGIHandler

from config import asgi


@pytest.fixture
def restore_gc():
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def test_tune_gc_freezes_start_up_objects_and_raises_thresholds(monkeypatch, restore_gc):
    monkeypatch.delenv("KIZUNA_GC_TUNING", raising=False)
    gc.set_threshold(700, 10, 10)
    asgi.tune_gc()
    assert gc.get_threshold() == asgi.GC_THRESHOLDS
    assert gc.get_freeze_count() > 0


def test_tune_gc_can_be_turned_off(monkeypatch, restore_gc):
    monkeypatch.setenv("KIZUNA_GC_TUNING", "0")
    gc.set_threshold(700, 10, 10)
    asgi.tune_gc()
    assert gc.get_threshold() == (700, 10, 10)


async def test_the_handler_runs_a_sync_chain_and_serves_a_page():
    # Django's own handler builds an async chain (a new thread and three hops per request).
    assert iscoroutinefunction(ASGIHandler()._middleware_chain)
    assert not iscoroutinefunction(asgi.django_asgi_app._middleware_chain)
    response = await HttpCommunicator(
        asgi.application, "GET", "/login/", headers=[(b"host", b"localhost")]
    ).get_response()
    assert response["status"] == 200
    assert "ログイン".encode() in response["body"]
