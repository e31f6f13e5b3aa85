"""Fixtures for the audit page: an organization administrator, and a stand-in base layout.

The site's base layout (templates/base.html) is written by another part of the project; until it
exists, the page tests render against a minimal stand-in in a temporary directory.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

from teams.models import Profession, User
from tests.factories import MembershipFactory, UserFactory

STAND_IN_BASE = """<!doctype html>
<html lang="ja"><head><title>{% block title %}{% endblock %}</title></head>
<body>{% block content %}{% endblock %}</body></html>
"""


@pytest.fixture(autouse=True)
def base_layout(settings, tmp_path: Path) -> None:
    try:
        get_template("base.html")
    except TemplateDoesNotExist:
        (tmp_path / "base.html").write_text(STAND_IN_BASE, encoding="utf-8")
        templates = copy.deepcopy(settings.TEMPLATES)
        templates[0]["DIRS"] = [*templates[0]["DIRS"], tmp_path]
        settings.TEMPLATES = templates


@pytest.fixture
def org_admin(net) -> User:
    """Administrator of the lead clinic (where `primary`, `coordinator` and `outsider` work)."""
    user = UserFactory(username="admin", display_name="加藤 由美", profession=Profession.CLERK)
    MembershipFactory(user=user, organization=net.lead_clinic, is_admin=True, title="事務長")
    return user
