"""App configuration for teams."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = _("組織と人")

    def ready(self) -> None:
        from teams import checks, receivers  # noqa: F401 (checks registers on import)

        receivers.connect()
