"""Celery tasks of media, on the `media` queue: thin, idempotent, queued after commit."""

from __future__ import annotations

from celery import shared_task

from media import services


@shared_task(name="media.make_derivatives", ignore_result=True, acks_late=True)
def make_derivatives(attachment_id: str) -> bool:
    """The thumbnail and display size of a stored photo (`services.make_derivatives`)."""
    return services.make_derivatives(attachment_id)


@shared_task(name="media.sweep", ignore_result=True, acks_late=True)
def sweep() -> int:
    """Beat, every 5 minutes: uploads never attached within 24 hours are deleted (rows and
    files), and photos still waiting for derivatives after a while (a lost task, a worker
    restart) are queued again. Returns how many uploads were deleted."""
    for attachment_id in services.stuck_photos():
        make_derivatives.delay(str(attachment_id))
    return services.delete_unattached()
