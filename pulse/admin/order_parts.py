"""Pieces of the order admin: the "needs attention" filter and the read-only history inlines."""

from __future__ import annotations

from django.contrib import admin

from pulse.admin.display import collapsible_json
from pulse.models import OrderAuditEntry, PaymentEvent, PaymentTransaction
from pulse.services import staff_actions

# --- list filter ---------------------------------------------------------------------------------


class NeedsAttentionFilter(admin.SimpleListFilter):
    """Orders stuck or waiting for staff, by kind, with counts."""

    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        counts = staff_actions.attention_counts()
        choices = [("all", f"Any of these ({counts['all']})")]
        choices += [
            (kind, f"{label} ({counts[kind]})") for kind, label in staff_actions.ATTENTION_LABELS.items()
        ]
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == "all" or value in staff_actions.ATTENTION_LABELS:
            return queryset.filter(staff_actions.needs_attention_q(value))
        return queryset


# --- inlines -------------------------------------------------------------------------------------


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Whoever may see the order sees its history.
        return request.user.has_perm("pulse.view_renewalorder") or request.user.has_perm(
            "pulse.change_renewalorder"
        )


class TransactionInline(ReadOnlyInline):
    model = PaymentTransaction
    fields = readonly_fields = (
        "created_at",
        "kind",
        "status",
        "amount",
        "currency",
        "gateway_reference",
        "raw_json",
    )
    verbose_name_plural = "payment transactions"

    @admin.display(description="raw")
    def raw_json(self, obj: PaymentTransaction):
        return collapsible_json(obj.raw)


class EventInline(ReadOnlyInline):
    model = PaymentEvent
    fk_name = "order"
    fields = readonly_fields = (
        "received_at",
        "type",
        "event_id",
        "result",
        "deliveries",
        "processed_at",
        "payload_json",
        "error",
    )
    verbose_name_plural = "webhook events"

    @admin.display(description="payload")
    def payload_json(self, obj: PaymentEvent):
        return collapsible_json(obj.payload)


class AuditInline(ReadOnlyInline):
    model = OrderAuditEntry
    fields = readonly_fields = ("at", "actor", "source", "action", "from_status", "to_status", "note")
    verbose_name_plural = "audit trail"
