"""Audit rows and their seals. Neither is ever updated or deleted: PostgreSQL refuses it
(migrations 0003 and 0006).

References to the actor and the patient are kept without foreign-key constraints, so that a
row outlives what it talks about and no cascade can ever try to delete it.

A seal (`AuditSeal`) chains one audit row to the one before it: its hash covers the row's
content and the previous seal's hash (audit/chain.py, docs/audit.md). Rows are written
unsealed and sealed shortly after, in id order, so writing a row costs what it did before.
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
    CHAIN_BROKEN = "chain_broken", _("監査ログの改ざん検知")


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


class AuditSeal(models.Model):
    """The chain link of one audit row: its place in the chain (`seq`, from 1 without gaps),
    the previous link's hash and its own, sha256 over both the previous hash and the row's
    content (`audit.chain.row_hash`).

    A table of its own rather than columns on `AuditEvent`: sealing then only inserts, so
    audit rows are never rewritten (an UPDATE would write each row a second time, with its
    four indexes) and their append-only rule needs no exception.
    """

    seq = models.BigIntegerField(primary_key=True)
    # No foreign-key constraint, like the rows' own references: a seal outlives a deleted
    # row, and the verifier names the row that is missing.
    event = models.OneToOneField(
        AuditEvent,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="seal",
    )
    prev_hash = models.BinaryField(max_length=32)
    hash = models.BinaryField(max_length=32)
    sealed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("監査ログの封印")
        verbose_name_plural = _("監査ログの封印")

    def __str__(self) -> str:
        return f"{self.seq} {bytes(self.hash).hex()}"
