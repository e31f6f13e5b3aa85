"""Helpers for the directory tests: organizations with capabilities, staff users."""

from __future__ import annotations

from typing import Any

from teams.models import Capability, Organization
from tests.factories import OrganizationFactory, UserFactory


def org_with(*codes: str, **fields: Any) -> Organization:
    """An organization holding the capabilities with these codes."""
    org = OrganizationFactory(**fields)
    org.capabilities.set(Capability.objects.filter(code__in=codes))
    return org


def staff_user(**fields: Any) -> Any:
    return UserFactory(is_staff=True, **fields)
