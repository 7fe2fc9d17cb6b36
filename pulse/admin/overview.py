"""The staff overview page (`/admin/overview/`): the business at a glance (docs/operations.md, "Overview").

Thin: the figures come from `pulse.selectors.overview`; this module validates the period and currency
from the query string, shapes the figures into tables and chart data, and renders. Charts are drawn
in the browser by Chart.js, served from our own static files (no CDN); every chart's numbers are also
in the table below it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache

from pulse.admin.display import masked
from pulse.models import ProviderName
from pulse.selectors import overview as selectors
from pulse.services import staff_actions
from pulse.services.money import CURRENCIES, format_money

DEFAULT_DAYS = 30
MAX_DAYS = 366
QUICK_PERIODS = (7, 30, 90, 365)
ATTENTION_LIMIT = 25
EARLIEST = date(2000, 1, 1)
PROVIDER_LABELS = dict(ProviderName.choices)


def may_view_orders(user) -> bool:
    """The overview and the support page show orders: whoever may see orders in the admin."""
    return user.has_perm("pulse.view_renewalorder") or user.has_perm("pulse.change_renewalorder")


class OverviewForm(forms.Form):
    """The query string: `since`, `until` (YYYY-MM-DD, both included) and `currency` (empty = all)."""

    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.ChoiceField(required=False, label="Currency")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = [("", "All currencies"), *((code, code) for code in CURRENCIES)]

    def clean(self):
        cleaned = super().clean()
        today = datetime.now(UTC).date()
        until = cleaned.get("until") or today
        since = cleaned.get("since") or until - timedelta(days=DEFAULT_DAYS - 1)
        if since < EARLIEST or until < EARLIEST:
            raise forms.ValidationError(f"Choose days after {EARLIEST:%Y-%m-%d}.")
        if since > until:
            raise forms.ValidationError("“From” must not be after “To”.")
        if (until - since).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"Choose at most {MAX_DAYS} days.")
        cleaned["period"] = selectors.Period(since, until)
        return cleaned


def _period_and_currency(request: HttpRequest) -> tuple[OverviewForm, selectors.Period, str]:
    default = selectors.Period.last_days(DEFAULT_DAYS)
    form = OverviewForm(request.GET or None, initial={"since": default.first, "until": default.last})
    if form.is_bound and form.is_valid():
        return form, form.cleaned_data["period"], form.cleaned_data.get("currency") or ""
    return form, default, ""  # invalid: the errors are shown above the default period


@never_cache
def overview_view(request: HttpRequest) -> HttpResponse:
    if not may_view_orders(request.user):
        raise PermissionDenied
    form, period, currency = _period_and_currency(request)
    context = {
        **admin.site.each_context(request),
        "title": "Overview",
        "form": form,
        "period": period,
        "currency": currency,
        "quick_periods": [
            (
                days,
                f"?since={period.last - timedelta(days=days - 1):%Y-%m-%d}&until={period.last:%Y-%m-%d}"
                + (f"&currency={currency}" if currency else ""),
            )
            for days in QUICK_PERIODS
        ],
        **_order_figures(period, currency),
        **_lookups(period),
        **_attention(),
        **_alerts(period),
    }
    return TemplateResponse(request, "admin/pulse/overview.html", context)


# --- shaping the figures ---------------------------------------------------------------------------


def _day_label(day: date) -> str:
    return f"{day:%Y-%m-%d}"


def _order_figures(period: selectors.Period, currency: str) -> dict:
    groups = selectors.order_groups(period, currency or None)  # one scan for the three figures
    return {
        **_revenue(period, currency, groups),
        **_renewals(period, currency, groups),
        **_fulfilment(period, currency, groups),
    }


def _revenue(period: selectors.Period, currency: str, groups: list[selectors.OrderGroup]) -> dict:
    rows = selectors.revenue_per_day(period, currency or None, groups=groups)
    currencies = sorted({row.currency for row in rows})
    net = {(row.day, row.currency): row.net for row in rows}
    labels = [_day_label(day) for day in period.days()]
    totals = []
    for code in currencies:
        mine = [row for row in rows if row.currency == code]
        paid = sum((row.paid for row in mine), selectors.ZERO)
        refunded = sum((row.refunded for row in mine), selectors.ZERO)
        totals.append(
            {
                "currency": code,
                "paid": format_money(paid, code),
                "refunded": format_money(refunded, code),
                "net": format_money(paid - refunded, code),
            }
        )
    return {
        "revenue_rows": [
            {
                "day": _day_label(row.day),
                "currency": row.currency,
                "paid": format_money(row.paid, row.currency),
                "refunded": format_money(row.refunded, row.currency),
                "net": format_money(row.net, row.currency),
                "orders_paid": row.orders_paid,
                "orders_refunded": row.orders_refunded,
            }
            for row in rows
        ],
        "revenue_totals": totals,
        "revenue_chart": {
            "type": "line",
            "labels": labels,
            "datasets": [
                {
                    "label": f"Net revenue ({code})",
                    "data": [float(net.get((day, code), 0)) for day in period.days()],
                }
                for code in currencies
            ],
        },
    }


def _renewals(period: selectors.Period, currency: str, groups: list[selectors.OrderGroup]) -> dict:
    rows = selectors.renewals_per_day(period, currency or None, groups=groups)
    states = list(selectors.END_STATES)
    return {
        "renewal_states": [selectors.END_STATE_LABELS[state] for state in states],
        "renewal_rows": [
            {
                "day": _day_label(row.day),
                "counts": [row.counts[state] for state in states],
                "total": row.total,
            }
            for row in rows
        ],
        "renewal_chart": {
            "type": "bar",
            "stacked": True,
            "labels": [_day_label(row.day) for row in rows],
            "datasets": [
                {"label": selectors.END_STATE_LABELS[state], "data": [row.counts[state] for row in rows]}
                for state in states
            ],
        },
    }


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def _fulfilment(period: selectors.Period, currency: str, groups: list[selectors.OrderGroup]) -> dict:
    rows = selectors.fulfilment_per_provider(period, currency or None, groups=groups)
    return {
        "fulfilment_rows": [
            {
                "provider": PROVIDER_LABELS.get(row.provider, row.provider),
                "placed": row.placed,
                "completed": row.completed,
                "failed": row.failed,
                "refunded": row.refunded,
                "median": _seconds(row.median_seconds),
                "p95": _seconds(row.p95_seconds),
            }
            for row in rows
        ],
        "fulfilment_chart": {
            "type": "bar",
            "labels": [PROVIDER_LABELS.get(row.provider, row.provider) for row in rows],
            "datasets": [
                {"label": "Placed", "data": [row.placed for row in rows]},
                {"label": "Failed", "data": [row.failed for row in rows]},
                {"label": "Refunded", "data": [row.refunded for row in rows]},
            ],
        },
    }


def _lookups(period: selectors.Period) -> dict:
    rows = selectors.lookups_per_day(period)
    labels = [_day_label(day) for day in period.days()]
    by_provider: dict[str, dict[date, selectors.LookupDay]] = defaultdict(dict)
    for row in rows:
        by_provider[row.provider][row.day] = row

    def series(provider: str, value) -> list[float | None]:
        days = by_provider[provider]
        return [value(days[day]) if day in days else None for day in period.days()]

    def percent(row: selectors.LookupDay) -> float | None:
        return None if row.availability is None else round(row.availability * 100, 2)

    def p95(row: selectors.LookupDay) -> float | None:
        return None if row.p95_ms is None else round(row.p95_ms)

    providers = sorted(by_provider)
    return {
        "lookup_rows": [
            {
                "provider": PROVIDER_LABELS.get(row.provider, row.provider),
                "day": _day_label(row.day),
                "calls": row.calls,
                "failures": row.failures,
                "availability": "—" if row.availability is None else f"{row.availability * 100:.2f} %",
                "p95": "—" if row.p95_ms is None else f"{row.p95_ms:.0f} ms",
            }
            for row in rows
        ],
        "availability_chart": {
            "type": "line",
            "labels": labels,
            "y_max": 100,
            "datasets": [
                {"label": f"{PROVIDER_LABELS.get(p, p)} availability %", "data": series(p, percent)}
                for p in providers
            ],
        },
        "latency_chart": {
            "type": "line",
            "labels": labels,
            "datasets": [
                {"label": f"{PROVIDER_LABELS.get(p, p)} p95 ms", "data": series(p, p95)} for p in providers
            ],
        },
    }


def _attention() -> dict:
    attention = selectors.orders_needing_attention(limit=ATTENTION_LIMIT)
    changelist = reverse("admin:pulse_renewalorder_changelist")
    return {
        "attention_total": attention.counts["all"],
        "attention_kinds": [
            {"label": label, "count": attention.counts[kind], "url": f"{changelist}?attention={kind}"}
            for kind, label in staff_actions.ATTENTION_LABELS.items()
        ],
        "attention_all_url": f"{changelist}?attention=all",
        "attention_orders": [
            {
                "order_id": order.order_id,
                "url": reverse("admin:pulse_renewalorder_change", args=[order.pk]),
                "status": order.get_status_display(),
                "provider": PROVIDER_LABELS.get(order.provider, order.provider),
                "price": format_money(order.amount, order.currency),
                "iccid": masked(order.iccid),
                "created_at": order.created_at,
            }
            for order in attention.orders
        ],
    }


def _alerts(period: selectors.Period) -> dict:
    """One table: e-mails sent, followed by a paid renewal within 7 days, and the share ("—" when no
    alert e-mail was sent), or why the figures could not be read."""
    figures = selectors.alert_conversion(period)
    conversion = figures.conversion
    if conversion is None:
        return {"alerts_rows": [], "alerts_problem": figures.problem}
    share = conversion.share
    return {
        "alerts_rows": [
            ("Alert e-mails sent", conversion.alerts_sent),
            ("Followed by a paid renewal of that eSIM within 7 days", conversion.followed_by_renewal),
            ("Share followed by a renewal", "—" if share is None else f"{share * 100:.0f} %"),
        ],
        "alerts_problem": "",
    }
