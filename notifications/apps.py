"""App configuration for notifications."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("お知らせ")

    def ready(self) -> None:
        from notifications import receivers

        receivers.connect()
