"""The conferences app's configuration."""

from __future__ import annotations

from django.apps import AppConfig


class ConferencesConfig(AppConfig):
    name = "conferences"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "カンファレンス"

    def ready(self) -> None:
        from conferences import receivers

        receivers.connect()
