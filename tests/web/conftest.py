"""Fixtures for the web-page tests: a Django test client logged in as one of the personas."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from teams.models import User


@pytest.fixture
def client_as(client: Client) -> Callable[[User], Client]:
    """`client_as(user)` returns the test client logged in as that user (Japanese UI)."""

    def login(user: User) -> Client:
        client.force_login(user)
        return client

    return login
