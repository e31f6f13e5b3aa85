"""Sections of the patient page and of home that other apps provide (the contact book and the
unread counts are messaging's).

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
    """A section of the home page (the unread counts and my open requests are messaging's):
    its name in the page's context, and the function that builds its context for the
    signed-in user and the ids of the patients the page lists. A context with a `per_patient`
    mapping (patient id -> object) also shows on each patient's card, as the card's
    `extras.<name>`."""

    name: str
    context: Callable[[User, list[int]], object]


_home_panels: dict[str, HomePanel] = {}


def register_home(panel: HomePanel) -> None:
    """Add a section to the home page (once per name: registering again replaces it)."""
    _home_panels[panel.name] = panel


def home_contexts(user: User, patient_ids: list[int]) -> dict[str, object]:
    """The context of every registered home section, by name."""
    return {name: panel.context(user, patient_ids) for name, panel in _home_panels.items()}


def per_patient(contexts: dict[str, object], patient_id: int) -> dict[str, object]:
    """What each home section says about one patient's card (see `HomePanel`)."""
    out: dict[str, object] = {}
    for name, ctx in contexts.items():
        mapping = getattr(ctx, "per_patient", None)
        if isinstance(mapping, dict) and patient_id in mapping:
            out[name] = mapping[patient_id]
    return out


_handoff_panels: dict[str, Panel] = {}


def register_handoff(panel: Panel) -> None:
    """Add a section to the hand-off card (the contact book's last 72 hours: messaging's)."""
    _handoff_panels[panel.name] = panel


def handoff_contexts(user: User, patient: Patient) -> dict[str, object]:
    return {name: panel.context(user, patient) for name, panel in _handoff_panels.items()}
