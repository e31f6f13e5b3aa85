"""Print the demo accounts' authenticator keys and current codes (demo data only).

`seed_demo` enrols every demo account with an authenticator whose key is fixed demo data.
Add a key to an authenticator app (the otpauth URI as a QR code, or the base32 key typed in),
or read the current code here.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django_otp.plugins.otp_totp.models import TOTPDevice

from teams import second_factor


class Command(BaseCommand):
    help = "デモ用アカウントの認証アプリのキーと現在のコードを表示します(デモデータのみ)。"

    def handle(self, *args: Any, **options: Any) -> None:
        devices = TOTPDevice.objects.filter(name=second_factor.DEMO, confirmed=True)
        rows = devices.select_related("user").order_by("user__username")
        if not rows:
            self.stdout.write("デモ用アカウントがありません (manage.py seed_demo を先に実行)")
            return
        for device in rows:
            enrolment = second_factor.key_of(device)
            self.stdout.write(
                f"{device.user.username:<16} code {second_factor.current_code(device)}  "
                f"key {enrolment}"
            )
