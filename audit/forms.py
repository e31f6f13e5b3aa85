"""The audit page's filter form: parses the query string, never raises on bad input."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from audit.models import AuditAction

_ID_ERRORS = {
    "invalid": _("IDは半角数字で入力してください。"),
    "min_value": _("IDは1以上の数字で入力してください。"),
    "max_value": _("IDが大きすぎます。"),
}
_DATE_ERRORS = {"invalid": _("日付はYYYY-MM-DDの形式で入力してください。")}
# Ids are bigint in the database; anything larger cannot match and would overflow the query.
_MAX_ID = 2**63 - 1


class AuditFilterForm(forms.Form):
    patient = forms.IntegerField(
        label=_("患者ID"), required=False, min_value=1, max_value=_MAX_ID, error_messages=_ID_ERRORS
    )
    actor = forms.IntegerField(
        label=_("操作者ID"),
        required=False,
        min_value=1,
        max_value=_MAX_ID,
        error_messages=_ID_ERRORS,
    )
    date_from = forms.DateField(
        label=_("開始日"),
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages=_DATE_ERRORS,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=_("終了日"),
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages=_DATE_ERRORS,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    action = forms.ChoiceField(
        label=_("操作"),
        required=False,
        choices=[("", _("すべて")), *AuditAction.choices],
        error_messages={"invalid_choice": _("操作の種類が正しくありません。")},
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise forms.ValidationError(_("開始日は終了日より前の日付にしてください。"))
        return cleaned

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for ``audit_events_filtered``. Call after ``is_valid()``."""
        data = self.cleaned_data
        return {
            "patient_id": data.get("patient"),
            "actor_id": data.get("actor"),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "action": data.get("action") or None,
        }
