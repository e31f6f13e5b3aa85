"""The directory page (連携リスト): the network's organizations, searched by kind, capability,
area and name. Reads through `teams.selectors.organization_search`; holds no patient data.

With htmx the search form swaps only the result list and keeps the URL in step, so a search
can be bookmarked and the back button works; without JavaScript the form is a plain GET.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from teams.models import CapabilityCode, OrganizationKind
from teams.selectors import organization_search

ORGANIZATIONS_PER_PAGE = 50


class DirectorySearchForm(forms.Form):
    q = forms.CharField(label=_("名称・ふりがな"), required=False, max_length=100)
    kind = forms.ChoiceField(
        label=_("種別"),
        required=False,
        choices=[("", _("すべて")), *OrganizationKind.choices],
    )
    area = forms.CharField(label=_("地域"), required=False, max_length=100)
    capabilities = forms.MultipleChoiceField(
        label=_("医療機能"),
        required=False,
        choices=CapabilityCode.choices,
        widget=forms.CheckboxSelectMultiple,
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def directory(request: HttpRequest) -> HttpResponse:
    form = DirectorySearchForm(request.GET or None, auto_id="dir_%s")
    organizations = organization_search()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        organizations = organization_search(
            kind=data["kind"] or None,
            capabilities=data["capabilities"],
            area=data["area"].strip() or None,
            q=data["q"].strip() or None,
        )
    page = Paginator(organizations, ORGANIZATIONS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    invalid = form.is_bound and not form.is_valid()
    status = 400 if invalid else 200
    if getattr(request, "htmx", False) and request.headers.get("HX-Target") == "directory-results":
        # 422, not 400, for htmx: swapped in place (see base.html), as the patient forms do.
        status = 422 if invalid else 200
        return render(request, "teams/partials/directory_results.html", context, status=status)
    return render(request, "teams/directory.html", context, status=status)
