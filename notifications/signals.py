"""What notifications announces.

- `notice_committed`: a notice committed (its delivery is queued by the receivers); kwargs:
  notice_id.
- `notice_live`: a live event for these people's sockets (messaging, which owns /ws/,
  relays it); kwargs: user_ids, event.
"""

from __future__ import annotations

from django.dispatch import Signal

notice_committed = Signal()
notice_live = Signal()
