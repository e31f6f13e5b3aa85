"""Send the conference reminders that are due, once or every N seconds.

Celery beat runs the same sweep in production (`conferences.send_reminders`). The embedded
mode has no beat, so `make run` starts this with `--every 60` beside Daphne: reminders work
there too, exactly once all the same (the notices' keys).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from conferences import services


class Command(BaseCommand):
    help = "Send the conference reminders that are due (24 hours and 15 minutes before)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        every = float(options["every"])
        while True:
            sent = services.reminders_send()
            if options["verbosity"] > 1 or (sent and not every):
                self.stdout.write(f"{sent} reminder(s) sent")
            if every <= 0:
                return
            close_old_connections()
            time.sleep(every)
