"""App configuration for messaging."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("連絡帳")

    def ready(self) -> None:
        from messaging import receivers

        receivers.connect()
