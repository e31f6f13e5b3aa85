"""Celery tasks of the audit log: sealing the hash chain, and its daily check. Thin: the work
is in audit/chain.py and audit/services.py. Both run from Celery beat (CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from audit import chain, services


@shared_task(name="audit.seal", ignore_result=True)
def seal_audit() -> int:
    """Seal the audit rows written since the last run; returns how many."""
    return chain.seal().sealed


@shared_task(name="audit.verify", ignore_result=True)
def verify_audit() -> bool:
    """Check the whole chain and warn the administrators if it is broken; returns whether
    it is intact."""
    return services.verify_and_report().ok
