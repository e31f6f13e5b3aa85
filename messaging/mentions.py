"""@mentions in a message's text: how they are written and found.

A mention is "@" and a team member's login name (ASCII, as Django's default allows, less the
"@"). Shared by the post path (`messaging.services`, which checks that each is in the thread)
and the page (`messaging.web_selectors`, which links them).
"""

from __future__ import annotations

import re

# Not preceded by a name character, so "taro@example.jp" is an address, not a mention; a
# trailing "." or "-" is punctuation ("@nurse." at the end of a sentence).
MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.+\-@])@([A-Za-z0-9_.+\-]*[A-Za-z0-9_+])")


def parse_mentions(body: str) -> list[str]:
    """The usernames @mentioned in `body`, in order of first appearance."""
    seen: dict[str, None] = {}
    for name in MENTION_RE.findall(body):
        seen.setdefault(name, None)
    return list(seen)
