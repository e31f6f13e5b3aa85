"""The PostgreSQL connection a process keeps (config.database): reused while it lives,
replaced without an error once the server has ended it."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import close_old_connections, connection

from teams.models import User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]


@pytest.fixture(autouse=True)
def kept_connection() -> Iterator[None]:
    """Kept for minutes, as in production (tests/conftest.py closes connections after each
    request)."""
    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 600
    connection.close()
    yield
    connection.settings_dict["CONN_MAX_AGE"] = before
    connection.close()


def _backend_pid() -> int:
    connection.ensure_connection()
    return int(connection.connection.info.backend_pid)


def _end_from_outside(pid: int) -> None:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server's notice reaches our socket shortly after.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if select.select([connection.connection.pgconn.socket], [], [], 0.05)[0]:
            return
    raise AssertionError("the ended connection never became readable")


def test_the_connection_is_kept_across_requests() -> None:
    first = _backend_pid()
    close_old_connections()  # what each request and socket call begins and ends with
    User.objects.exists()
    close_old_connections()
    assert _backend_pid() == first


def test_a_connection_the_server_ended_is_replaced_without_an_error() -> None:
    ended = _backend_pid()
    _end_from_outside(ended)

    close_old_connections()
    User.objects.exists()  # would raise OperationalError on the ended connection

    assert _backend_pid() != ended


def test_an_open_transaction_is_not_taken_for_a_dead_connection() -> None:
    from django.db import transaction

    with transaction.atomic():
        User.objects.exists()
        pid = _backend_pid()
        connection.health_check_done = False
        User.objects.exists()
        assert _backend_pid() == pid
