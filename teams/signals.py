"""What teams announces to the apps above it (docs/architecture.md, "announces").

- `sessions_ended(user_id, session_tags)`: web sessions of this person ended (logout, a device
  revoked, a password change, an administrator ending their access). `session_tags` names
  them (`teams.models.session_tag`); `None` means every session of the person. Sent inside
  the transaction that ends them; messaging closes their live sockets after the commit.
"""

from __future__ import annotations

from django.dispatch import Signal

sessions_ended = Signal()
