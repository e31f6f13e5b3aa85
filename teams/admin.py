"""Django admin for people, organizations, memberships, networks and capabilities.

The admin is for staff: coordinators keep the directory through the API and the web pages,
which check who may change what. Capabilities are fixed by a data migration, so their admin
only lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from teams.models import Capability, Membership, Network, Organization, User

# django-stubs makes the admin classes generic in their model; Django's are not subscriptable
# at run time, so the parameters exist only for the type checker.
if TYPE_CHECKING:
    _MembershipInline = admin.TabularInline[Membership, User | Organization]
    _UserAdmin = BaseUserAdmin[User]
    _OrganizationAdmin = admin.ModelAdmin[Organization]
    _NetworkAdmin = admin.ModelAdmin[Network]
    _CapabilityAdmin = admin.ModelAdmin[Capability]
else:
    _MembershipInline = admin.TabularInline
    _UserAdmin = BaseUserAdmin
    _OrganizationAdmin = _NetworkAdmin = _CapabilityAdmin = admin.ModelAdmin


class MembershipInline(_MembershipInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "organization"]
    fields = ["user", "organization", "title", "is_admin", "is_active"]


@admin.register(User)
class UserAdmin(_UserAdmin):
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("職種と連絡先"), {"fields": ("display_name", "name_kana", "profession", "phone")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (_("職種と連絡先"), {"fields": ("display_name", "name_kana", "profession", "phone")}),
    )
    list_display = ["username", "display_name", "profession", "email", "is_active", "is_staff"]
    list_filter = ["profession", "is_active", "is_staff", "memberships__organization__kind"]
    search_fields = ["username", "display_name", "name_kana", "email"]
    inlines = [MembershipInline]


@admin.register(Organization)
class OrganizationAdmin(_OrganizationAdmin):
    list_display = ["name", "name_kana", "kind", "area", "phone"]
    list_filter = ["kind", "capabilities", "networks"]
    search_fields = ["name", "name_kana", "area", "address"]
    filter_horizontal = ["capabilities"]
    inlines = [MembershipInline]


@admin.register(Network)
class NetworkAdmin(_NetworkAdmin):
    list_display = ["name", "area", "referrer_decides"]
    search_fields = ["name", "area"]
    filter_horizontal = ["organizations", "coordinators"]


@admin.register(Capability)
class CapabilityAdmin(_CapabilityAdmin):
    list_display = ["code", "__str__"]
    search_fields = ["code"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Capability | None = None) -> bool:
        return False
