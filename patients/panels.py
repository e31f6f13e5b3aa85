"""Sections of the patient page that other apps provide (the contact book is messaging's).

patients sits below messaging (docs/architecture.md), so its page cannot import the thread it
shows. An app registers a panel from its `AppConfig.ready`; the page asks each panel for its
template context and includes the panel's template, a name, not an import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from patients.models import Patient
from teams.models import User


@dataclass(frozen=True)
class Panel:
    """A section of the patient page: its name in the page's context, and the function that
    builds its context for a user who may see the patient."""

    name: str
    context: Callable[[User, Patient], object]


_panels: dict[str, Panel] = {}


def register(panel: Panel) -> None:
    """Add a panel to the patient page (once per name: registering again replaces it)."""
    _panels[panel.name] = panel


def panel_contexts(user: User, patient: Patient) -> dict[str, object]:
    """The context of every registered panel, by name, for a patient the user may see."""
    return {name: panel.context(user, patient) for name, panel in _panels.items()}


@dataclass(frozen=True)
class HomePanel:
    """A section of the home page (the open requests are messaging's): its name in the
    page's context and the function that builds it for the signed-in user."""

    name: str
    context: Callable[[User], object]


_home_panels: dict[str, HomePanel] = {}


def register_home(panel: HomePanel) -> None:
    _home_panels[panel.name] = panel


def home_contexts(user: User) -> dict[str, object]:
    return {name: panel.context(user) for name, panel in _home_panels.items()}


_handoff_panels: dict[str, Panel] = {}


def register_handoff(panel: Panel) -> None:
    """Add a section to the hand-off card (the contact book's last 72 hours: messaging's)."""
    _handoff_panels[panel.name] = panel


def handoff_contexts(user: User, patient: Patient) -> dict[str, object]:
    return {name: panel.context(user, patient) for name, panel in _handoff_panels.items()}
