"""Template context shared by every web page: the navigation, the bell's unread count and the
CSP nonce bridge.

`audit_url` is set only for people who may read the audit log (staff and organization
administrators), so the base layout shows the link to them alone.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from audit.selectors import can_read_audit
from notifications.selectors import unread_count


def _audit_url(request: HttpRequest) -> str | None:
    user = request.user
    if not user.is_authenticated or not can_read_audit(user):
        return None
    return reverse("audit:list")


def kizuna(request: HttpRequest) -> dict[str, Any]:
    return {
        "audit_url": _audit_url(request),
        # The bell in the header (notifications/static/notifications/bell.js keeps it live).
        "notice_unread": unread_count(request.user.pk) if request.user.is_authenticated else 0,
        # django-htmx's `{% htmx_script %}` adds a nonce only when the context has `csp_nonce`;
        # django-csp puts it on the request, so bridge it here (harmless without django-csp).
        "csp_nonce": getattr(request, "csp_nonce", None),
    }
