"""The schedule form, with its recurrence builder in words, and the minutes form."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from conferences.access import network_organizations, network_people
from conferences.models import ConferenceKind
from patients.access import patients_visible_to
from patients.forms import ServiceFormMixin
from teams.models import User

AGENDA_ROWS = 3
MINUTES_STEPS = 3

REPEATS = (
    ("none", _("繰り返さない")),
    ("weekly", _("毎週(同じ曜日)")),
    ("biweekly", _("隔週(同じ曜日)")),
    ("monthly_weekday", _("毎月(第n何曜日、例: 第3木曜日)")),
    ("monthly_date", _("毎月(同じ日)")),
)


def _date() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _time() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class ScheduleForm(ServiceFormMixin, forms.Form):
    error_field_map = {
        "recurrence": "repeat",
        "starts_at": "start_time",
        "ends_at": "end_time",
        "time_zone": "date",
    }

    kind = forms.ChoiceField(label=_("種類"), choices=ConferenceKind.choices)
    title = forms.CharField(label=_("件名"), max_length=200)
    date = forms.DateField(label=_("日付(初回)"), widget=_date())
    start_time = forms.TimeField(label=_("開始時刻"), widget=_time())
    end_time = forms.TimeField(label=_("終了時刻"), widget=_time())
    repeat = forms.ChoiceField(label=_("繰り返し"), choices=REPEATS, initial="none")
    until = forms.DateField(label=_("繰り返しの終了日"), required=False, widget=_date())
    count = forms.IntegerField(label=_("または回数"), required=False, min_value=1, max_value=104)
    is_online = forms.BooleanField(label=_("オンライン開催"), required=False, initial=True)
    place = forms.CharField(label=_("会場(対面の場合)"), max_length=200, required=False)
    external_url = forms.CharField(
        label=_("外部会議URL(大人数の場合、Jitsi など)"), max_length=500, required=False
    )
    invitees = forms.MultipleChoiceField(
        label=_("招待する人"), required=False, widget=forms.CheckboxSelectMultiple
    )
    organizations = forms.MultipleChoiceField(
        label=_("招待する組織(全員)"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        people = network_people(user).exclude(pk=user.pk).order_by("name_kana", "pk")
        cast(forms.ChoiceField, self.fields["invitees"]).choices = [
            (str(p.pk), str(p)) for p in people
        ]
        cast(forms.ChoiceField, self.fields["organizations"]).choices = [
            (str(o.pk), o.name) for o in network_organizations(user).order_by("name_kana", "pk")
        ]
        patients = [("", "—")] + [
            (str(p.pk), p.name) for p in patients_visible_to(user).order_by("name_kana", "pk")
        ]
        presenters = [(str(user.pk), str(user))] + [(str(p.pk), str(p)) for p in people]
        for n in range(1, AGENDA_ROWS + 1):
            self.fields[f"agenda_patient_{n}"] = forms.ChoiceField(
                label=_("議題%(n)d: 患者") % {"n": n}, choices=patients, required=False
            )
            self.fields[f"agenda_presenter_{n}"] = forms.ChoiceField(
                label=_("議題%(n)d: 発表者") % {"n": n}, choices=presenters, required=False
            )
            self.fields[f"agenda_question_{n}"] = forms.CharField(
                label=_("議題%(n)d: 検討したいこと") % {"n": n},
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def agenda(self) -> list[dict[str, Any]]:
        rows = []
        for n in range(1, AGENDA_ROWS + 1):
            patient = self.cleaned_data.get(f"agenda_patient_{n}")
            if patient:
                rows.append(
                    {
                        "patient": patient,
                        "presenter": self.cleaned_data.get(f"agenda_presenter_{n}"),
                        "question": self.cleaned_data.get(f"agenda_question_{n}"),
                    }
                )
        return rows

    def moments(self, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
        day = self.cleaned_data["date"]
        start = dt.datetime.combine(day, self.cleaned_data["start_time"], tzinfo=tz)
        end = dt.datetime.combine(day, self.cleaned_data["end_time"], tzinfo=tz)
        return start, end


class MinutesForm(ServiceFormMixin, forms.Form):
    summary = forms.CharField(
        label=_("概要"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    decisions = forms.CharField(
        label=_("決定事項"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, people: list[User], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owners = [("", "—")] + [(str(p.pk), str(p)) for p in people]
        for n in range(1, MINUTES_STEPS + 1):
            self.fields[f"step_text_{n}"] = forms.CharField(
                label=_("次のステップ%(n)d") % {"n": n}, max_length=500, required=False
            )
            self.fields[f"step_owner_{n}"] = forms.ChoiceField(
                label=_("担当者"), choices=owners, required=False
            )
            self.fields[f"step_due_{n}"] = forms.DateField(
                label=_("期限"), required=False, widget=_date()
            )

    def next_steps(self) -> list[dict[str, Any]]:
        steps = []
        for n in range(1, MINUTES_STEPS + 1):
            text = self.cleaned_data.get(f"step_text_{n}")
            if text:
                steps.append(
                    {
                        "text": text,
                        "owner": self.cleaned_data.get(f"step_owner_{n}"),
                        "due": self.cleaned_data.get(f"step_due_{n}"),
                    }
                )
        return steps
