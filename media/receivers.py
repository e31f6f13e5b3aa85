"""How media reacts to its own announcements: the one place its receivers are connected
(from `MediaConfig.ready`).

- a stored photo (after its commit) has its derivatives task queued on the `media` queue; in
  the embedded mode (eager tasks) they are made at once, in the same request;
- the patient page shows the photo gallery and the wound timeline (`patients.panels`).
"""

from __future__ import annotations

import logging
from typing import Any

from media import selectors, signals
from media.tasks import make_derivatives
from patients import panels
from patients.models import Patient
from teams.models import User

logger = logging.getLogger(__name__)


def on_attachment_stored(sender: Any, *, attachment_id: Any, **kwargs: Any) -> None:
    """Queue the derivatives of a committed photo; never raise: the upload stands, and a photo
    left processing is queued again by the sweep (`media.tasks.sweep`)."""
    try:
        make_derivatives.delay(str(attachment_id))
    except Exception:
        logger.exception("derivatives of photo %s not queued", attachment_id)


def photos_panel(user: User, patient: Patient) -> selectors.PhotoPanel:
    """The patient page's photos: the gallery by date and the wound timeline's body sites."""
    return selectors.photo_panel(user, patient)


def connect() -> None:
    signals.attachment_stored.connect(on_attachment_stored, dispatch_uid="kz-media-derivatives")
    panels.register(panels.Panel("photos", photos_panel))
