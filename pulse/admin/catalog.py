"""Catalogue, sync runs, exchange rates, known eSIMs and webhook events in the admin.

All of it is written by code (catalogue sync, rate fetches, status checks, webhooks), so it is
read-only here; the one thing staff set is a bundle's retail price override.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin

from providers.units import format_gb
from pulse.admin.display import masked, pretty_json
from pulse.exceptions import ApplicationError
from pulse.models import Bundle, CatalogSync, ExchangeRate, KnownEsim, PaymentEvent
from pulse.services.money import CURRENCIES, format_money, has_excess_precision
from pulse.services.pricing import UnpriceableBundle, quote_bundle

LIST_CURRENCY = "USD"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- bundles -------------------------------------------------------------------------------------


class BundleOverrideForm(forms.ModelForm):
    class Meta:
        model = Bundle
        fields = ("retail_price_override", "override_currency")

    def clean_override_currency(self) -> str:
        code = (self.cleaned_data.get("override_currency") or "").strip().upper()
        if code and code not in CURRENCIES:
            raise forms.ValidationError(f"Unknown currency {code}; use one of {', '.join(CURRENCIES)}.")
        return code

    def clean(self):
        cleaned = super().clean()
        override: Decimal | None = cleaned.get("retail_price_override")
        currency = cleaned.get("override_currency")
        if override is None:
            cleaned["override_currency"] = ""  # no override: nothing for a currency to describe
            return cleaned
        if override <= 0:
            self.add_error("retail_price_override", "The override must be more than zero.")
        elif "override_currency" in self.errors:
            pass  # already told: an unknown currency
        elif not currency:
            self.add_error("override_currency", "Say which currency the override is in.")
        elif has_excess_precision(override, currency):
            self.add_error(
                "retail_price_override",
                f"{currency} has {CURRENCIES[currency].exponent} decimal places; {override} has more.",
            )
        return cleaned

    def _post_clean(self):
        # Bundle.clean repeats our currency check: show the form's messages once, and run the model's
        # validation only on input that passed them.
        if self._errors:
            return
        super()._post_clean()


class HasOverrideFilter(admin.SimpleListFilter):
    title = "price override"
    parameter_name = "override"

    def lookups(self, request, model_admin):
        return [("yes", "Overridden"), ("no", "Cost x markup")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(retail_price_override__isnull=False)
        if self.value() == "no":
            return queryset.filter(retail_price_override__isnull=True)
        return queryset


# Synced from the provider: shown, never edited here (only the override is).
_CATALOGUE_FIELDS = (
    "provider",
    "code",
    "description",
    "countries",
    "region",
    "data",
    "unlimited",
    "duration_days",
    "cost",
    "cost_currency",
    "package_id",
    "active",
    "synced_at",
    "created_at",
    "updated_at",
)


@admin.register(Bundle)
class BundleAdmin(admin.ModelAdmin):
    form = BundleOverrideForm
    list_display = (
        "provider",
        "code",
        "description",
        "data",
        "duration_days",
        "cost",
        "cost_currency",
        "retail_price",
        "retail_price_override",
        "override_currency",
        "active",
    )
    list_filter = ("provider", "active", HasOverrideFilter, "unlimited", "cost_currency", "duration_days")
    search_fields = ("code", "description", "region", "package_id")
    ordering = ("provider", "code")
    list_per_page = 100
    fieldsets = (
        ("Price override", {"fields": ("retail_price_override", "override_currency", "retail_price")}),
        ("From the provider's catalogue", {"fields": _CATALOGUE_FIELDS}),
    )
    readonly_fields = ("retail_price", *_CATALOGUE_FIELDS)

    def has_add_permission(self, request):
        return False  # bundles come from the provider catalogues (manage.py sync_catalog)

    def has_delete_permission(self, request, obj=None):
        return False  # orders point at them; a bundle the provider dropped is made inactive by the sync

    @admin.display(description="data")
    def data(self, obj: Bundle) -> str:
        return "Unlimited" if obj.unlimited else format_gb(obj.data_bytes)

    @admin.display(description=f"retail price ({LIST_CURRENCY})")
    def retail_price(self, obj: Bundle) -> str:
        if obj.pk is None:
            return "—"
        try:
            quote = quote_bundle(obj, LIST_CURRENCY)
        except (ApplicationError, UnpriceableBundle) as exc:
            return f"— ({exc})"
        return format_money(quote.amount, quote.currency) + (" (override)" if quote.override else "")


# --- read-only records ---------------------------------------------------------------------------


@admin.register(CatalogSync)
class CatalogSyncAdmin(ReadOnlyAdmin):
    list_display = (
        "provider",
        "started_at",
        "finished_at",
        "outcome",
        "added",
        "changed",
        "deactivated",
        "unchanged",
    )
    list_filter = ("provider", "outcome")
    ordering = ("-started_at",)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ReadOnlyAdmin):
    list_display = ("base", "quote", "rate", "source", "fetched_at")
    list_filter = ("base", "quote", "source")
    ordering = ("base", "quote")


@admin.register(KnownEsim)
class KnownEsimAdmin(ReadOnlyAdmin):
    list_display = (
        "masked_iccid",
        "provider",
        "masked_reference",
        "last_status",
        "plan_name",
        "last_seen_at",
    )
    list_filter = ("provider", "last_status")
    search_fields = ("=iccid", "=reference")
    search_help_text = "Full ICCID or provider reference."
    ordering = ("-last_seen_at",)

    @admin.display(description="ICCID")
    def masked_iccid(self, obj: KnownEsim) -> str:
        return masked(obj.iccid)

    @admin.display(description="reference")
    def masked_reference(self, obj: KnownEsim) -> str:
        # TravelRoam's reference is the ICCID itself.
        return masked(obj.reference) if obj.reference == obj.iccid else obj.reference


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "gateway", "result", "order", "deliveries", "received_at")
    list_filter = ("result", "gateway", "type", "livemode")
    search_fields = ("=event_id", "=order__order_id")
    search_help_text = "Event id or order id."
    ordering = ("-received_at",)
    list_select_related = ("order",)
    exclude = ("payload",)
    readonly_fields = ("payload_json",)

    @admin.display(description="payload")
    def payload_json(self, obj: PaymentEvent):
        return pretty_json(obj.payload)
