"""What messaging announces, for other apps (and its own adapters) to react to.

Receivers are connected in one place per reacting app (`<app>/receivers.py`, from its
`AppConfig.ready`), so the announcing code never imports the code that reacts.
"""

from __future__ import annotations

from django.dispatch import Signal

# A new message, after its commit: `message`. Notification delivery hangs here
# (`messaging.receivers` queues `messaging.tasks.notify_message`).
message_posted = Signal()

# A step of an urgent request's chain was made, due at `deadline`, after its commit:
# `step_id`, `deadline`. `messaging.receivers` queues `tasks.fire_step` for it.
escalation_step_due = Signal()
