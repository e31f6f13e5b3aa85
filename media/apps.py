"""App configuration for media: photo attachments of the contact book."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = _("写真")

    def ready(self) -> None:
        from media import receivers

        receivers.connect()
