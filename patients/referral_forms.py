"""Forms of the referral pages. They parse; `patients.referrals` decides and writes.

Fields are optional here where the service says what is missing: its field errors (the
minimum summary, identifying data in the summary, the same person as primary and secondary)
come back next to the fields through `ServiceFormMixin.add_domain_errors`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from patients.forms import ServiceFormMixin, _date_widget
from patients.models import AgeBand, ConsentMethod, ReferralAnswer, Sex
from teams.models import CapabilityCode, Network, Organization

# The needs a referral names, of the directory's capabilities (医療機器・ケアの必要).
NEED_CODES = (
    CapabilityCode.VENTILATOR,
    CapabilityCode.IV_THERAPY,
    CapabilityCode.TUBE_FEEDING,
    CapabilityCode.HOME_OXYGEN,
    CapabilityCode.PALLIATIVE_CARE,
    CapabilityCode.END_OF_LIFE,
    CapabilityCode.PEDIATRIC_HOME_CARE,
    CapabilityCode.DEMENTIA,
    CapabilityCode.RESPONSE_24H,
    CapabilityCode.REHABILITATION,
)


def _blank(choices: Any) -> list[tuple[str, Any]]:
    return [("", "---------"), *choices]


class ReferralForm(ServiceFormMixin, forms.Form):
    network_id = forms.TypedChoiceField(label=_("依頼先のネットワーク"), coerce=int)
    referring_organization_id = forms.TypedChoiceField(label=_("紹介元"), coerce=int)
    # The summary: every invited physician reads it.
    age_band = forms.ChoiceField(label=_("年代"), choices=_blank(AgeBand.choices), required=False)
    sex = forms.ChoiceField(label=_("性別"), choices=_blank(Sex.choices), required=False)
    area = forms.CharField(label=_("地域(市区町村)"), max_length=100, required=False)
    town = forms.CharField(label=_("町名(番地は書かない)"), max_length=100, required=False)
    conditions = forms.CharField(
        label=_("主な病名・状態"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    needs = forms.MultipleChoiceField(
        label=_("医療機器・ケアの必要"),
        choices=[(c.value, c.label) for c in NEED_CODES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    summary = forms.CharField(
        label=_("経過と依頼内容"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "氏名・住所の番地・電話番号・メールアドレス・保険証の番号は書かないでください。"
        ),
    )
    wished_start = forms.DateField(
        label=_("在宅医療の開始希望日(退院予定日)"), required=False, widget=_date_widget()
    )
    answer_within_hours = forms.IntegerField(
        label=_("回答期限(時間)"), min_value=1, max_value=336, initial=48, required=False
    )
    # The identifying record: only the accepted team will see it.
    name = forms.CharField(label=_("氏名"), max_length=100, required=False)
    name_kana = forms.CharField(label=_("ふりがな"), max_length=100, required=False)
    date_of_birth = forms.DateField(label=_("生年月日"), required=False, widget=_date_widget())
    address = forms.CharField(label=_("住所"), max_length=300, required=False)
    phone = forms.CharField(
        label=_("電話番号"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    consent_method = forms.ChoiceField(
        label=_("在宅チームへの情報提供の同意"),
        choices=ConsentMethod.choices,
        initial=ConsentMethod.WRITTEN,
        widget=forms.RadioSelect,
    )
    consented_on = forms.DateField(label=_("同意日"), required=False, widget=_date_widget())
    patient_id = forms.IntegerField(
        label=_("登録済みの患者のID(再入院など)"),
        required=False,
        min_value=1,
        help_text=_(
            "登録済みの患者なら、患者ページのアドレスの番号。氏名などは空欄でも患者の記録から取ります。"
        ),
    )

    SUMMARY_FIELDS = (
        "age_band",
        "sex",
        "area",
        "town",
        "conditions",
        "needs",
        "summary",
        "wished_start",
        "answer_within_hours",
    )
    IDENTITY_FIELDS = (
        "name",
        "name_kana",
        "date_of_birth",
        "address",
        "phone",
        "consent_method",
        "consented_on",
        "patient_id",
    )

    def __init__(
        self,
        *args: Any,
        networks: list[Network],
        organizations: list[Organization],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        network_field: Any = self.fields["network_id"]
        network_field.choices = [(n.pk, n.name) for n in networks]
        org_field: Any = self.fields["referring_organization_id"]
        org_field.choices = [(o.pk, o.name) for o in organizations]

    def summary_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.SUMMARY_FIELDS]

    def identity_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.IDENTITY_FIELDS]

    def service_data(self) -> dict[str, Any]:
        data = super().service_data()
        data["needs"] = list(data.get("needs") or [])
        return data


class AnswerForm(ServiceFormMixin, forms.Form):
    answer = forms.ChoiceField(
        label=_("回答"),
        choices=[c for c in ReferralAnswer.choices if c[0] != ReferralAnswer.PENDING],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("辞退の理由"),
        max_length=500,
        required=False,
        help_text=_("辞退するときは必須です。"),
    )


class ConfirmForm(ServiceFormMixin, forms.Form):
    primary_id = forms.TypedChoiceField(label=_("主治医"), coerce=int)
    secondary_id = forms.TypedChoiceField(
        label=_("副主治医"), coerce=int, required=False, empty_value=None
    )

    def __init__(
        self,
        *args: Any,
        primaries: list[tuple[int, str]],
        secondaries: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        primary: Any = self.fields["primary_id"]
        primary.choices = _blank(primaries)
        secondary: Any = self.fields["secondary_id"]
        secondary.choices = _blank(secondaries)


class InviteForm(ServiceFormMixin, forms.Form):
    physician_id = forms.TypedChoiceField(label=_("追加で依頼する医師"), coerce=int)

    def __init__(self, *args: Any, physicians: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["physician_id"]
        field.choices = _blank(physicians)
