"""Audit rows. They are never updated or deleted: PostgreSQL refuses it (migration 0002).

References to the actor and the patient are kept without foreign-key constraints, so that a
row outlives what it talks about and no cascade can ever try to delete it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    READ = "read", _("閲覧")
    LIST = "list", _("一覧")
    CREATE = "create", _("作成")
    UPDATE = "update", _("更新")
    DELETE = "delete", _("削除")
    EXPORT = "export", _("出力")
    BREAK_GLASS = "break_glass", _("緊急アクセス")
    SIGN_IN = "sign_in", _("サインイン")
    SIGN_IN_FAILED = "sign_in_failed", _("サインイン失敗")
    SIGN_OUT = "sign_out", _("サインアウト")
    LOCKOUT = "lockout", _("ロックアウト")
    SECOND_FACTOR = "second_factor", _("二段階認証の変更")
    SECOND_FACTOR_FAILED = "second_factor_bad", _("二段階認証の失敗")
    REFUSED = "refused", _("拒否")
    DISCLOSURE = "disclosure", _("第三者提供")


class AuditEvent(models.Model):
    # actor and patient are indexed by the (actor, -at) and (patient, -at) indexes below.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["patient", "-at"]),
            models.Index(fields=["actor", "-at"]),
        ]
        verbose_name = _("監査ログ")
        verbose_name_plural = _("監査ログ")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_id} {self.action} {self.object_type}"
