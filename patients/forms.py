"""Forms of the patient pages. They parse and check input; the services decide and write.

A form never saves: the view passes `form.service_data()` to a function of
`patients.services`, and puts any `DomainError` field messages back on the form with
`form.add_domain_errors`, so a refusal shows next to the field it is about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from config.errors import DomainError
from patients.models import (
    REQUIRED_CONSENT_ITEMS,
    Allergy,
    ConsentItem,
    ConsentMethod,
    EmergencyContact,
    MedicalDevice,
    Medication,
    Patient,
    Problem,
    RecordItem,
)
from patients.selectors import consent_candidates
from teams.models import Organization, OrganizationKind
from teams.selectors import organization_search

# django-stubs makes ModelForm generic in its model; Django's is not subscriptable at run
# time, so the parameter exists only for the type checker.
if TYPE_CHECKING:
    _RecordItemModelForm = forms.ModelForm[RecordItem]
    _PatientModelForm = forms.ModelForm[Patient]
else:
    _RecordItemModelForm = _PatientModelForm = forms.ModelForm


def _date_widget() -> forms.DateInput:
    # The browser's date picker sends ISO dates, which every locale's DateField accepts.
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ServiceFormMixin:
    """What the views need from every form: the data for the service and its errors back."""

    # Service field names that differ from the form's (e.g. `hospital_id` -> `hospital`).
    error_field_map: dict[str, str] = {}

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def service_data(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.fields}

    def add_domain_errors(self, exc: DomainError) -> None:
        form: Any = self
        placed = False
        for name, messages in exc.fields.items():
            field = self.error_field_map.get(name, name)
            target = field if field in self.fields else None
            for message in messages:
                form.add_error(target, message)
                placed = True
        if not placed:
            form.add_error(None, exc.message)

    def mark_invalid_fields(self) -> None:
        """Point each invalid control at its error text, for screen readers."""
        form: Any = self
        for name in form.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = f"{form[name].auto_id}_error"


class RecordItemForm(ServiceFormMixin, _RecordItemModelForm):
    """Base of the five record-item forms; the model's field labels are the form's labels."""


class ProblemForm(RecordItemForm):
    class Meta:
        model = Problem
        fields = ["name", "onset_date", "is_active", "note"]
        widgets = {"onset_date": _date_widget(), "note": forms.Textarea(attrs={"rows": 3})}


class MedicationForm(RecordItemForm):
    class Meta:
        model = Medication
        fields = ["name", "dose", "start_date", "end_date", "note"]
        widgets = {
            "start_date": _date_widget(),
            "end_date": _date_widget(),
            "note": forms.Textarea(attrs={"rows": 3}),
        }

    def clean(self) -> dict[str, Any]:
        # Said here, on the end date, so the model's check constraint (which would be a
        # message for the whole form) is skipped for a field already in error.
        data = super().clean() or {}
        start, end = data.get("start_date"), data.get("end_date")
        if start is not None and end is not None and end < start:
            self.add_error("end_date", _("終了日は開始日以降にしてください。"))
        return data


class AllergyForm(RecordItemForm):
    class Meta:
        model = Allergy
        fields = ["substance", "reaction", "severity"]


class DeviceForm(RecordItemForm):
    class Meta:
        model = MedicalDevice
        fields = ["name", "since", "note"]
        widgets = {"since": _date_widget(), "note": forms.Textarea(attrs={"rows": 3})}


class ContactForm(RecordItemForm):
    class Meta:
        model = EmergencyContact
        fields = ["name", "relationship", "phone", "is_key_person", "note"]
        widgets = {"phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"})}


RECORD_FORMS: dict[str, type[RecordItemForm]] = {
    "problems": ProblemForm,
    "medications": MedicationForm,
    "allergies": AllergyForm,
    "devices": DeviceForm,
    "contacts": ContactForm,
}


class WishForm(ServiceFormMixin, forms.Form):
    """A new version of the green or yellow card."""

    error_field_map = {"hospital_id": "hospital"}

    preference = forms.CharField(label=_("希望"), max_length=300)
    hospital = forms.ModelChoiceField(
        label=_("希望病院"),
        queryset=organization_search(kind=OrganizationKind.HOSPITAL),
        required=False,
        empty_label=_("(指定なし)"),
    )
    note = forms.CharField(
        label=_("備考"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A fresh queryset per form, so a hospital added to the directory shows at once.
        hospital = self.fields["hospital"]
        if not isinstance(hospital, forms.ModelChoiceField):  # as declared above
            raise TypeError("WishForm.hospital must be a ModelChoiceField")
        hospital.queryset = organization_search(kind=OrganizationKind.HOSPITAL)

    def service_data(self) -> dict[str, Any]:
        hospital = self.cleaned_data.get("hospital")
        return {
            "preference": self.cleaned_data["preference"],
            "hospital_id": hospital.pk if hospital is not None else None,
            "note": self.cleaned_data.get("note") or "",
        }


class PatientForm(ServiceFormMixin, _PatientModelForm):
    """The patient's own fields (the managing organization is not changed here)."""

    class Meta:
        model = Patient
        fields = [
            "name",
            "name_kana",
            "date_of_birth",
            "sex",
            "care_level",
            "status",
            "address",
            "phone",
        ]
        widgets = {
            "date_of_birth": _date_widget(),
            "phone": forms.TextInput(attrs={"type": "tel"}),
        }


def _organizations_field() -> forms.ModelMultipleChoiceField[Organization]:
    # Not required here: an empty choice reaches the service, which says why in its words.
    return forms.ModelMultipleChoiceField(
        label=_("対象の組織"),
        queryset=Organization.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("管理組織は常に対象です。"),
    )


class ConsentOrganizationsForm(ServiceFormMixin, forms.Form):
    """The organizations the active consent covers (extend or narrow it)."""

    error_field_map = {"organization_ids": "organizations"}

    organizations = _organizations_field()

    def __init__(self, *args: Any, patient: Patient, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organizations"]
        if not isinstance(field, forms.ModelMultipleChoiceField):  # as declared above
            raise TypeError("organizations must be a ModelMultipleChoiceField")
        field.queryset = consent_candidates(patient)

    def service_data(self) -> dict[str, Any]:
        return {"organization_ids": [o.pk for o in self.cleaned_data.get("organizations") or []]}


class ConsentForm(ConsentOrganizationsForm):
    """A new consent: whom it covers, what, how and when it was given."""

    items = forms.MultipleChoiceField(
        label=_("対象の情報"),
        choices=ConsentItem.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        initial=[str(i) for i in REQUIRED_CONSENT_ITEMS],
    )
    method = forms.ChoiceField(
        label=_("同意の方法"),
        choices=ConsentMethod.choices,
        initial=ConsentMethod.WRITTEN,
        widget=forms.RadioSelect,
    )
    consented_on = forms.DateField(label=_("同意日"), required=False, widget=_date_widget())
    note = forms.CharField(
        label=_("備考"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )

    def service_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            **super().service_data(),
            "items": list(data.get("items") or []),
            "method": data.get("method"),
            "consented_on": data.get("consented_on"),
            "note": data.get("note") or "",
        }
