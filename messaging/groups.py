"""Channel-layer group names, built from ids only (never from user text).

Each socket joins exactly one group, its user's; an event is sent to the groups of the people
who should receive it, so a nurse on 200 patients' teams costs one group, not 200.
"""

from __future__ import annotations


def user_group(user_id: int) -> str:
    # int() so a stray string can never smuggle characters Channels refuses in group names.
    return f"user.{int(user_id)}"
