"""The preferences page's form (the API takes the same fields as JSON)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.models import Channel


def _channels(label: Any) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class PreferenceForm(forms.Form):
    routine = _channels(_("通常のお知らせ"))
    important = _channels(_("重要なお知らせ"))
    urgent = _channels(_("緊急のお知らせ"))
    quiet_start = forms.TimeField(
        label=_("通知を控える時間帯（開始）"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_end = forms.TimeField(
        label=_("通知を控える時間帯（終了）"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    time_zone = forms.CharField(label=_("タイムゾーン"), max_length=64)
    daily_digest = forms.BooleanField(label=_("未読のまとめを毎日メールで受け取る"), required=False)
    digest_hour = forms.IntegerField(label=_("まとめを送る時刻（時）"), min_value=0, max_value=23)

    def service_data(self) -> dict[str, Any]:
        return dict(self.cleaned_data)
