"""App configuration for messaging."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = _("連絡帳")

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from messaging.revocation import user_pre_save

        pre_save.connect(user_pre_save, sender=get_user_model(), dispatch_uid="kizuna-revoke")
