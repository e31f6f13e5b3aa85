"""What patients announces, for other apps to react to, without patients importing them.

Each signal is sent by `patients.services` inside the transaction that makes the change, so
what a receiver writes is part of the same change (a new patient and its contact book are
stored together, or neither is); a receiver defers whatever leaves the database (closing
sockets, live events) until the commit, as `messaging.publish` does. Receivers are connected
in one place per reacting app: messaging's are in `messaging/receivers.py`.
"""

from __future__ import annotations

from django.dispatch import Signal

# A patient was registered: `patient`, `actor`.
patient_created = Signal()

# People lost their access to a patient (a place on the team ended, consent was withdrawn):
# `patient_id`, `user_ids`.
access_ended = Signal()

# Someone outside the team opened emergency access: `grant` (a `BreakGlassGrant`).
break_glass_opened = Signal()

# A referral was confirmed and became `patient`: its summary `text` opens the contact book, in
# the name of `author` (the referring hospital's member on the team, or the primary physician).
referral_confirmed = Signal()
