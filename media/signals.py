"""What media announces, for other apps (and its own receivers) to react to.

media sits below messaging (docs/architecture.md), so it never calls it: messaging hangs its
live event on `attachment_ready`.
"""

from __future__ import annotations

from django.dispatch import Signal

# A photo is stored and its row committed: `attachment_id`. media's receivers queue the
# derivatives task here.
attachment_stored = Signal()

# Both derivatives of a photo are stored, after the commit: `attachment_id`, `message_id`
# (None while the photo is not attached yet). messaging sends the live event of its message.
attachment_ready = Signal()
