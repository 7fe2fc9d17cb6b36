"""Usage alerts in the admin (docs/alerts.md): the subscriptions, the alert log, and the share of
alert e-mails followed by a paid renewal within 7 days (`pulse.selectors.alerts`)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from pulse.admin.catalog import ReadOnlyAdmin
from pulse.admin.display import masked
from pulse.models import AlertSent, AlertSubscription
from pulse.models.alerts import EndReason
from pulse.selectors.alerts import alert_renewal_conversion
from pulse.services.alerts import end_subscriptions

CONVERSION_DAYS = 30


@admin.register(AlertSubscription)
class AlertSubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "masked_iccid",
        "email",
        "confirmed",
        "last_scan_at",
        "last_status",
        "last_alert_at",
        "next_scan_at",
        "ended",
    )
    list_filter = (("confirmed_at", admin.EmptyFieldListFilter), ("ended_at", admin.EmptyFieldListFilter))
    search_fields = ("=iccid", "email")
    fields = (
        "masked_iccid",
        "email",
        "thresholds",
        "created_at",
        "confirmation_sent_at",
        "confirmed_at",
        "last_scan_at",
        "last_status",
        "last_alert_at",
        "next_scan_at",
        "gone_since",
        "ended_at",
        "end_reason",
    )
    readonly_fields = fields
    actions = ["unsubscribe"]

    @admin.action(description="Unsubscribe and delete the e-mail address (a customer's request)")
    def unsubscribe(self, request, queryset):
        ended = end_subscriptions(queryset, EndReason.UNSUBSCRIBED)
        self.message_user(request, f"{ended} subscription(s) ended; their addresses are deleted.")

    @admin.display(description="ICCID", ordering="iccid")
    def masked_iccid(self, subscription: AlertSubscription) -> str:
        return masked(subscription.iccid)

    @admin.display(description="confirmed", boolean=True, ordering="confirmed_at")
    def confirmed(self, subscription: AlertSubscription) -> bool:
        return subscription.confirmed

    @admin.display(description="ended", ordering="ended_at")
    def ended(self, subscription: AlertSubscription) -> str:
        return subscription.get_end_reason_display() if subscription.ended_at else "-"


@admin.register(AlertSent)
class AlertSentAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "masked_iccid", "threshold", "lead", "sent_at", "period_key")
    list_filter = ("threshold", "lead")
    search_fields = ("=iccid",)
    date_hierarchy = "created_at"
    fields = ("masked_iccid", "subscription", "threshold", "lead", "period_key", "created_at", "sent_at")
    readonly_fields = fields

    @admin.display(description="ICCID", ordering="iccid")
    def masked_iccid(self, alert: AlertSent) -> str:
        return masked(alert.iccid)

    def changelist_view(self, request, extra_context=None):
        now = timezone.now()
        conversion = alert_renewal_conversion(now - timedelta(days=CONVERSION_DAYS), now)
        extra_context = {
            **(extra_context or {}),
            "title": f"Alert log — last {CONVERSION_DAYS} days: {conversion.line()}",
        }
        return super().changelist_view(request, extra_context=extra_context)
