"""What notifications announces: a notice committed (its delivery is queued by the receivers)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the commit of the transaction that wrote the notice; kwargs: notice_id.
notice_committed = Signal()
