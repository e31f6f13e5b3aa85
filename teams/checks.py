"""System checks of the teams app's settings: the demo's second-factor shortcut is refused
anywhere but a development server (DEBUG on)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def demo_codes_need_debug(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if getattr(settings, "KIZUNA_DEMO_SHOW_CODES", False) and not settings.DEBUG:
        return [
            Error(
                "KIZUNA_DEMO_SHOW_CODES shows second-factor codes on the sign-in page: it is "
                "for the demo only and is refused when DEBUG is off.",
                hint="Unset KIZUNA_DEMO_SHOW_CODES.",
                id="kizuna.E001",
            )
        ]
    return []
