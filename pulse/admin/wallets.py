"""Provider wallets and sales pauses in the admin (docs/operations.md, "Provider wallets and the sales
pause"): each provider's last balance and sales state, and the staff actions Resume and Pause.

The banner on every admin page (`admin/base_site.html`, `pulse.context_processors.sales_pauses`) links
here and carries a Resume button per paused provider (a POST to `resume_view`).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from providers.base import PROVIDER_NAMES
from pulse.models import ProviderSalesPause
from pulse.services import wallets


def staff_name(request: HttpRequest) -> str:
    return f"staff:{request.user.get_username()}"


@admin.register(ProviderSalesPause)
class ProviderSalesPauseAdmin(admin.ModelAdmin):
    list_display = (
        "provider",
        "sales",
        "balance",
        "balance_read_at",
        "since",
        "reason",
        "resumed_by",
        "pauses",
    )
    list_display_links = ("provider",)
    actions = ("resume_sales", "pause_sales")
    fields = (
        "provider",
        "paused",
        "cause",
        "reason",
        "since",
        "resume_at_balance",
        "resume_currency",
        "alert_sent_at",
        "pauses",
        "resumed_at",
        "resumed_by",
        "last_balance",
        "balance_currency",
        "balance_read_at",
        "balance_error",
        "low_balance_warned_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row per provider, so the list always shows all three: made once per list, not on every
        # get_queryset() the admin makes while rendering it.
        wallets.states()
        return super().changelist_view(request, extra_context)

    @admin.display(description="sales", ordering="paused")
    def sales(self, row: ProviderSalesPause) -> str:
        return "PAUSED" if row.paused else "selling"

    @admin.display(description="balance", ordering="last_balance")
    def balance(self, row: ProviderSalesPause) -> str:
        if row.last_balance is None:
            return "-"
        return f"{row.last_balance.normalize():f} {row.balance_currency}"

    @admin.action(description="Resume sales of the selected providers", permissions=["change"])
    def resume_sales(self, request, queryset):
        done = [row.provider for row in queryset if wallets.resume(row.provider, by=staff_name(request))]
        if done:
            self.message_user(request, f"Sales resumed: {', '.join(done)}.", messages.SUCCESS)
        else:
            self.message_user(request, "None of them was paused.", messages.WARNING)

    @admin.action(description="Pause sales of the selected providers", permissions=["change"])
    def pause_sales(self, request, queryset):
        by = staff_name(request)
        done = [
            row.provider
            for row in queryset
            if wallets.pause(row.provider, cause=ProviderSalesPause.Cause.STAFF, reason=f"Paused by {by}")
        ]
        if done:
            self.message_user(request, f"Sales paused: {', '.join(done)}.", messages.WARNING)
        else:
            self.message_user(request, "All of them were paused already.", messages.INFO)

    def get_urls(self):
        own = [
            path(
                "resume/<str:provider>/",
                self.admin_site.admin_view(self.resume_view),
                name="pulse_providersalespause_resume",
            )
        ]
        return own + super().get_urls()

    def resume_view(self, request: HttpRequest, provider: str):
        """The banner's Resume button: POST only (CSRF-checked), change permission required."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        if provider not in PROVIDER_NAMES:
            messages.error(request, "Unknown provider.")
        elif wallets.resume(provider, by=staff_name(request)):
            messages.success(request, f"Sales of {provider} resumed.")
        else:
            messages.info(request, f"Sales of {provider} were not paused.")
        target = request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(target, allowed_hosts=None, require_https=False):
            target = reverse("admin:pulse_providersalespause_changelist")
        return HttpResponseRedirect(target)
