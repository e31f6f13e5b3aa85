"""App configuration for audit."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("監査ログ")

    def ready(self) -> None:
        from audit import receivers

        receivers.connect()
