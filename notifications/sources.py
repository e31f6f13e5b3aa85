"""What the daily digest lists, provided by the apps above (messaging: unread threads).

notifications sits below messaging, so it cannot read threads itself: an app registers a
source from its `AppConfig.ready`, as the patient page's panels are registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from teams.models import User


@dataclass(frozen=True)
class UnreadItem:
    title: str
    url: str
    unread: int


_sources: dict[str, Callable[[User], list[UnreadItem]]] = {}


def register(name: str, source: Callable[[User], list[UnreadItem]]) -> None:
    _sources[name] = source


def unread_for(user: User) -> list[UnreadItem]:
    items: list[UnreadItem] = []
    for source in _sources.values():
        items += source(user)
    return items
