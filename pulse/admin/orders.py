"""Renewal orders in the admin: find them, read their history, act on them (docs/operations.md).

Nothing here changes an order's status itself: every action calls `pulse.services.staff_actions`,
which goes through the state machine and writes the audit trail. Money, status and payment fields are
read-only; the only editable field is the customer's e-mail address.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from providers.iccid import normalize_iccid
from providers.units import format_gb
from pulse.admin.display import masked, pretty_json
from pulse.admin.order_actions import ORDER_ACTIONS, NoteForm, OrderAction, action_url, error_text, report
from pulse.admin.order_parts import AuditInline, EventInline, NeedsAttentionFilter, TransactionInline
from pulse.exceptions import ApplicationError
from pulse.models import OrderStatus, RenewalOrder
from pulse.services import order_state, staff_actions
from pulse.services.money import format_money

S = OrderStatus
EDITABLE_FIELDS = ("customer_email",)
# Retries call the provider one order at a time inside the request: keep a bulk click short.
BULK_LIMIT = 25


@admin.register(RenewalOrder)
class RenewalOrderAdmin(admin.ModelAdmin):
    list_display = ("order_id", "status", "provider", "amount", "currency", "masked_iccid", "created_at")
    list_filter = (
        NeedsAttentionFilter,
        "status",
        "provider",
        ("created_at", admin.DateFieldListFilter),
        "gateway",
    )
    search_fields = (
        "=order_id",
        "=iccid",
        "=customer_email",
        "=checkout_session_id",
        "=payment_intent_id",
        "=provider_reference",
    )
    search_help_text = (
        "Order id, ICCID, customer e-mail, checkout session, payment intent or provider reference."
    )
    ordering = ("-created_at",)
    list_per_page = 50
    show_full_result_count = False
    inlines = (TransactionInline, EventInline, AuditInline)

    class Media:
        css = {"all": ("pulse/admin/orders.css",)}

    actions = ("retry_selected", "refund_selected", "mark_completed_selected", "resend_email_selected")
    fieldsets = (
        ("Order", {"fields": ("order_id", "status", "created_at", "paid_at", "completed_at", "refunded_at")}),
        (
            "eSIM and bundle",
            {
                "fields": (
                    "iccid",
                    "provider",
                    "esim_reference",
                    "bundle",
                    "bundle_code",
                    "bundle_name",
                    "package_id",
                    "data",
                    "duration_days",
                )
            },
        ),
        ("Money", {"fields": ("price", "amount", "currency", "exchange_rate", "provider_cost_display")}),
        (
            "Customer",
            {
                "fields": (
                    "customer_email",
                    "receipt_sent_at",
                    "refund_notice_sent_at",
                    "review_notice_sent_at",
                    "email_failing_since",
                    "email_error",
                )
            },
        ),
        (
            "Payment",
            {
                "fields": (
                    "gateway",
                    "checkout_session_id",
                    "checkout_expires_at",
                    "payment_intent_id",
                    "refund_id",
                )
            },
        ),
        (
            "Fulfilment",
            {"fields": ("provider_reference", "attempts", "lease_until", "next_attempt_at", "last_error")},
        ),
        ("What the client sent", {"classes": ("collapse",), "fields": ("client_request_json",)}),
    )

    # --- permissions and fields ---

    def has_add_permission(self, request):
        return False  # orders come from checkouts only

    def has_delete_permission(self, request, obj=None):
        return False  # the ledger keeps every order

    def get_readonly_fields(self, request, obj=None):
        model_fields = [
            field.name for field in RenewalOrder._meta.fields if field.name not in EDITABLE_FIELDS
        ]
        return [*model_fields, "data", "price", "provider_cost_display", "client_request_json"]

    def save_model(self, request, obj, form, change):
        # Write only what staff may edit: a full save() could overwrite a status that a webhook or the
        # reconciler changed while the form was open.
        changed = [name for name in form.changed_data if name in EDITABLE_FIELDS]
        if not changed:
            return
        RenewalOrder.objects.filter(pk=obj.pk).update(**{name: getattr(obj, name) for name in changed})
        order_state.record(
            obj, by=staff_actions.SOURCE, action=f"{', '.join(changed)} changed", actor=request.user
        )

    # --- columns ---

    @admin.display(description="ICCID")
    def masked_iccid(self, obj: RenewalOrder) -> str:
        return masked(obj.iccid)

    @admin.display(description="data")
    def data(self, obj: RenewalOrder) -> str:
        return "Unlimited" if obj.unlimited else format_gb(obj.data_bytes)

    @admin.display(description="price")
    def price(self, obj: RenewalOrder) -> str:
        return format_money(obj.amount, obj.currency)

    @admin.display(description="provider cost")
    def provider_cost_display(self, obj: RenewalOrder) -> str:
        return f"{obj.provider_cost} {obj.provider_cost_currency}"

    @admin.display(description="client request")
    def client_request_json(self, obj: RenewalOrder):
        return pretty_json(obj.client_request)

    # --- search: an ICCID typed with spaces or dashes, or just its last digits, still matches ---

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term and set(term) <= set("0123456789 -") and any(ch.isdigit() for ch in term):
            digits = normalize_iccid(term)
            if len(digits) >= 18:
                return queryset.filter(iccid=digits), False
            return queryset.filter(iccid__endswith=digits), False  # the digits shown in the list
        return super().get_search_results(request, queryset, search_term)

    # --- single-order action pages ---

    def get_urls(self):
        custom = [
            path(
                "<path:object_id>/actions/<slug:action>/",
                self.admin_site.admin_view(self.order_action_view),
                name="pulse_renewalorder_action",
            )
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        order = self.get_object(request, unquote(object_id))
        if order is not None and self.has_change_permission(request, order):
            extra_context["order_actions"] = self.action_links(order)
        return super().change_view(request, object_id, form_url, extra_context)

    def action_links(self, order: RenewalOrder) -> list[dict[str, str]]:
        links = []
        for key in staff_actions.available_actions(order):
            label = ORDER_ACTIONS[key].label
            if key == "refund" and order.status == S.REFUND_PENDING:
                label = "Ask for the refund again"
            links.append({"key": key, "label": label, "url": action_url(order, key)})
        return links

    def order_action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        spec = ORDER_ACTIONS.get(action)
        order = self.get_object(request, unquote(object_id))
        if spec is None or order is None:
            raise Http404("No such order or action.")
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        change_url = reverse("admin:pulse_renewalorder_change", args=[order.pk])
        form = spec.form(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                result = spec.run(order, user=request.user, **form.cleaned_data)
            except ApplicationError as exc:
                if not exc.fields:
                    messages.error(request, error_text(exc))
                    return HttpResponseRedirect(change_url)
                for name, errors in exc.fields.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                report(request, spec, result)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": order,
            "title": f"{spec.label}: order {order.order_id}",
            "action": spec,
            "form": form,
            "change_url": change_url,
            "price": format_money(order.amount, order.currency),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/pulse/renewalorder/order_action.html", context)

    # --- changelist actions ---

    @admin.action(description="Retry fulfilment of selected orders", permissions=["change"])
    def retry_selected(self, request, queryset):
        return self.bulk_action(request, queryset, ORDER_ACTIONS["retry"])

    @admin.action(description="Refund selected orders", permissions=["change"])
    def refund_selected(self, request, queryset):
        return self.bulk_action(request, queryset, ORDER_ACTIONS["refund"])

    @admin.action(description="Mark selected order completed (one at a time)", permissions=["change"])
    def mark_completed_selected(self, request, queryset):
        # Each order needs its own provider reference and note: send staff to the order's form.
        orders = list(queryset[:2])
        if len(orders) != 1:
            messages.error(
                request, "Select exactly one order to mark completed: each needs its own provider reference."
            )
            return None
        return HttpResponseRedirect(action_url(orders[0], "mark_completed"))

    @admin.action(description="Resend the customer e-mail of selected orders", permissions=["change"])
    def resend_email_selected(self, request, queryset):
        return self.bulk_action(request, queryset, ORDER_ACTIONS["resend_email"])

    def bulk_action(self, request: HttpRequest, queryset, spec: OrderAction) -> HttpResponse | None:
        """First a confirmation page (orders, their status, a note), then the action on each order."""
        orders = list(queryset.order_by("created_at")[: BULK_LIMIT + 1])
        if len(orders) > BULK_LIMIT:
            messages.error(request, f"Select at most {BULK_LIMIT} orders at a time for {spec.label.lower()}.")
            return None
        form = NoteForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_bound:
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"{spec.label}: {len(orders)} order(s)",
                "action": spec,
                "action_name": request.POST.get("action", ""),
                "orders": orders,
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "checkbox_name": ACTION_CHECKBOX_NAME,
                "form": form,
            }
            return TemplateResponse(request, "admin/pulse/renewalorder/bulk_action.html", context)
        note = form.cleaned_data["note"] if form.is_valid() else ""
        for order in orders:
            try:
                result = spec.run(order, user=request.user, note=note)
            except ApplicationError as exc:
                messages.error(request, error_text(exc))
            else:
                report(request, spec, result)
        return None
