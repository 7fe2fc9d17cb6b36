"""The staff admin (docs/operations.md). Django's admin site already requires an active staff login."""

from django.contrib import admin

from pulse.admin import catalog, jobs, orders

admin.site.site_header = "eSIM renewals: staff"
admin.site.site_title = "eSIM renewals admin"
admin.site.index_title = "Orders, catalogue and payments"

__all__ = ["catalog", "jobs", "orders"]
