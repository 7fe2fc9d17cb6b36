"""The staff admin (docs/operations.md). Django's admin site already requires an active staff login."""

from django.contrib import admin

from pulse.admin import alerts, catalog, install_codes, jobs, orders, wallets

admin.site.site_header = "eSIM renewals: staff"
admin.site.site_title = "eSIM renewals admin"
admin.site.index_title = "Orders, catalogue and payments"
# The app list repeats the home page in a 270 px column; at 1280 px the order tables need that width
# (the ICCID column was cut off). Home and the breadcrumbs lead to every list.
admin.site.enable_nav_sidebar = False
# The home page links to the overview and the eSIM support page (pulse.admin.overview, .support).
admin.site.index_template = "admin/pulse/index.html"

__all__ = ["alerts", "catalog", "install_codes", "jobs", "orders", "wallets"]
