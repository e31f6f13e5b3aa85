"""Celery tasks of patients: thin, idempotent, taking ids (or nothing)."""

from __future__ import annotations

from celery import shared_task

from patients import referrals


@shared_task(name="patients.referral_sweep", ignore_result=True, acks_late=True)
def referral_sweep() -> int:
    """Escalate the referrals past their deadline (beat, every 30 s, queue `routing`).
    Each is claimed by a conditional update, so two workers escalate it once. Returns how
    many this run escalated."""
    return len(referrals.referral_escalate_due())
