"""Helpers for the directory tests: organizations with capabilities, staff users."""

from __future__ import annotations

from typing import Any

from teams.models import Capability, Organization
from tests.factories import OrganizationFactory, UserFactory


def org_with(*codes: str, **fields: Any) -> Organization:
    """An organization holding the capabilities with these codes."""
    org = OrganizationFactory(**fields)
    # get_or_create: a transactional test elsewhere may have flushed the migration's rows.
    org.capabilities.set([Capability.objects.get_or_create(code=code)[0] for code in codes])
    return org


def staff_user(**fields: Any) -> Any:
    return UserFactory(is_staff=True, **fields)
