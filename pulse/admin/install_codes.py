"""The audit trail of "Show install code" (pulse.admin.support), read-only in the admin."""

from __future__ import annotations

from django.contrib import admin

from pulse.admin.catalog import ReadOnlyAdmin
from pulse.models import InstallCodeShown


@admin.register(InstallCodeShown)
class InstallCodeShownAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor_username", "iccid_masked", "provider", "outcome", "detail")
    list_filter = ("outcome", "provider")
    search_fields = ("=actor_username", "iccid_masked")
    search_help_text = "Staff user name, or the masked ICCID (or its last 4 digits)."
    date_hierarchy = "at"
    ordering = ("-at",)
