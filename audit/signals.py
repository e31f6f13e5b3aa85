"""What the audit log announces to the apps above it (docs/architecture.md).

- `chain_broken(report)`: the daily check found the hash chain broken (`audit.chain.Report`).
  Sent after the audit row about it is written and the site's ADMINS are mailed; teams mails
  the organizations' administrators, whom the audit log cannot name itself.
"""

from __future__ import annotations

from django.dispatch import Signal

chain_broken = Signal()
