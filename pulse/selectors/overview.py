"""The numbers of the staff overview (`/admin/overview/`, docs/operations.md "Overview").

Pure read functions over a `Period` of whole days (UTC), aggregated in the database so the page stays
fast with 100,000 orders (benchmarks/overview_100k.py): revenue, renewals and the fulfilment counts
come from one grouped scan of the orders (`order_groups`, which the page passes to each), the
completion percentiles from one more, lookups and attention from one each.

Definitions:
- revenue: orders paid on the day (`paid_at`) minus orders refunded on the day (`refunded_at`), per
  currency, never summed across currencies (refunds are always of the whole amount);
- renewals by end state: orders created on the day, grouped by what became of them so far;
- fulfilment per provider: orders paid in the period, how many completed, failed after payment
  (provider failed, manual review, refund pending, refunded) and were refunded; median and p95 of the
  time from payment to completion of the completed ones;
- lookups per provider per day: from the hourly table `ProviderLookupHour`; availability is the share
  of lookups the provider answered (found or not found), p95 is estimated from the latency histogram
  as Prometheus' `histogram_quantile` does (linear within the bucket);
- orders that need attention: the order admin's "needs attention" filter, now;
- usage alerts: alert e-mails sent in the period and how many were followed by a paid renewal of the
  eSIM within 7 days (pulse.selectors.alerts).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Func, Q, Sum
from django.db.models.functions import TruncDate

from pulse.models import OrderStatus, ProviderLookupHour, RenewalOrder
from pulse.models.overview import BUCKET_FIELDS, LATENCY_BUCKETS_MS
from pulse.selectors import alerts
from pulse.services import staff_actions

logger = logging.getLogger(__name__)
S = OrderStatus
ZERO = Decimal("0")

# What became of an order, for "renewals per day by end state" (every status in exactly one group).
END_STATES: dict[str, tuple[str, ...]] = {
    "completed": (S.COMPLETED,),
    "refunded": (S.REFUNDED,),
    "needs_staff": (S.PROVIDER_FAILED, S.MANUAL_REVIEW),
    "in_progress": (S.PENDING, S.PAID, S.FULFILLING, S.REFUND_PENDING),
    "not_paid": (S.FAILED, S.EXPIRED, S.CANCELLED),
}
END_STATE_LABELS = {
    "completed": "Completed",
    "refunded": "Refunded",
    "needs_staff": "Needs staff",
    "in_progress": "In progress",
    "not_paid": "Not paid",
}
FAILED_AFTER_PAYMENT = (S.PROVIDER_FAILED, S.MANUAL_REVIEW, S.REFUND_PENDING, S.REFUNDED)


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in UTC."""

    first: date
    last: date

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> Period:
        today = today or datetime.now(UTC).date()
        return cls(today - timedelta(days=days - 1), today)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=UTC)

    def holds(self, day: date | None) -> bool:
        return day is not None and self.first <= day <= self.last

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


# --- one scan of the orders ----------------------------------------------------------------------


@dataclass(frozen=True)
class OrderGroup:
    """Orders alike in the days they were created, paid and refunded, provider, currency and status."""

    created: date | None
    paid: date | None
    refunded: date | None
    provider: str
    currency: str
    status: str
    amount: Decimal
    count: int


def order_groups(period: Period, currency: str | None = None) -> list[OrderGroup]:
    """One grouped scan of every order created, paid or refunded in the period: revenue, renewals and
    the fulfilment counts are all read from it (one pass over the orders instead of four)."""
    start, end = period.start, period.end
    touched = (
        Q(created_at__gte=start, created_at__lt=end)
        | Q(paid_at__gte=start, paid_at__lt=end)
        | Q(refunded_at__gte=start, refunded_at__lt=end)
    )
    orders = RenewalOrder.objects.filter(touched)
    if currency:
        orders = orders.filter(currency=currency)
    rows = (
        orders.annotate(
            created_day=TruncDate("created_at", tzinfo=UTC),
            paid_day=TruncDate("paid_at", tzinfo=UTC),
            refunded_day=TruncDate("refunded_at", tzinfo=UTC),
        )
        .values("created_day", "paid_day", "refunded_day", "provider", "currency", "status")
        .annotate(total=Sum("amount"), count=Count("pk"))
        .order_by()
    )
    return [
        OrderGroup(
            created=row["created_day"],
            paid=row["paid_day"],
            refunded=row["refunded_day"],
            provider=row["provider"],
            currency=row["currency"],
            status=row["status"],
            amount=Decimal(row["total"]),
            count=row["count"],
        )
        for row in rows
    ]


# --- revenue -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueDay:
    day: date
    currency: str
    paid: Decimal = ZERO
    refunded: Decimal = ZERO
    orders_paid: int = 0
    orders_refunded: int = 0

    @property
    def net(self) -> Decimal:
        return self.paid - self.refunded


def revenue_per_day(
    period: Period, currency: str | None = None, *, groups: list[OrderGroup] | None = None
) -> list[RevenueDay]:
    """Per day and currency with any payment or refund in the period, by day then currency."""
    groups = order_groups(period, currency) if groups is None else groups
    paid: dict[tuple[date, str], list] = defaultdict(lambda: [ZERO, 0])
    refunded: dict[tuple[date, str], list] = defaultdict(lambda: [ZERO, 0])
    for group in groups:
        if period.holds(group.paid):
            paid[(group.paid, group.currency)][0] += group.amount
            paid[(group.paid, group.currency)][1] += group.count
        if group.status == S.REFUNDED and period.holds(group.refunded):
            refunded[(group.refunded, group.currency)][0] += group.amount
            refunded[(group.refunded, group.currency)][1] += group.count
    return [
        RevenueDay(
            day,
            code,
            paid=paid[(day, code)][0],
            refunded=refunded[(day, code)][0],
            orders_paid=paid[(day, code)][1],
            orders_refunded=refunded[(day, code)][1],
        )
        for day, code in sorted(set(paid) | set(refunded))
    ]


def currencies_in(period: Period) -> list[str]:
    """The currencies with orders paid in the period (for the currency selector)."""
    return sorted(
        RenewalOrder.objects.filter(paid_at__gte=period.start, paid_at__lt=period.end)
        .values_list("currency", flat=True)
        .distinct()
        .order_by()
    )


# --- renewals by end state -----------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalsDay:
    day: date
    counts: dict[str, int]  # END_STATES key -> orders created that day

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def renewals_per_day(
    period: Period, currency: str | None = None, *, groups: list[OrderGroup] | None = None
) -> list[RenewalsDay]:
    """Every day of the period (zeros included): orders created that day, by what became of them."""
    groups = order_groups(period, currency) if groups is None else groups
    group_of = {status: state for state, statuses in END_STATES.items() for status in statuses}
    by_day = {day: dict.fromkeys(END_STATES, 0) for day in period.days()}
    for group in groups:
        if period.holds(group.created):
            by_day[group.created][group_of[group.status]] += group.count
    return [RenewalsDay(day, counts) for day, counts in by_day.items()]


# --- fulfilment per provider ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderFulfilment:
    provider: str
    placed: int
    completed: int
    failed: int
    refunded: int
    median_seconds: float | None
    p95_seconds: float | None


def fulfilment_per_provider(
    period: Period, currency: str | None = None, *, groups: list[OrderGroup] | None = None
) -> list[ProviderFulfilment]:
    """Orders paid in the period, per provider (top-ups placed = paid orders, whose top-up was due)."""
    groups = order_groups(period, currency) if groups is None else groups
    counts: dict[str, dict[str, int]] = {}
    for group in groups:
        if not period.holds(group.paid):
            continue
        mine = counts.setdefault(
            group.provider, dict.fromkeys(("placed", "completed", "failed", "refunded"), 0)
        )
        mine["placed"] += group.count
        mine["completed"] += group.count if group.status == S.COMPLETED else 0
        mine["failed"] += group.count if group.status in FAILED_AFTER_PAYMENT else 0
        mine["refunded"] += group.count if group.status == S.REFUNDED else 0
    times = _completion_percentiles(period, currency) if counts else {}
    return [
        ProviderFulfilment(
            provider=provider,
            **numbers,
            median_seconds=times.get(provider, (None, None))[0],
            p95_seconds=times.get(provider, (None, None))[1],
        )
        for provider, numbers in sorted(counts.items())
    ]


class _PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(f) WITHIN GROUP (ORDER BY x)`: linear between the two nearest."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), output_field=FloatField(), **extra)


def _completion_percentiles(
    period: Period, currency: str | None
) -> dict[str, tuple[float | None, float | None]]:
    """(median, p95) seconds from payment to completion of the orders paid in the period and completed,
    per provider: PostgreSQL's percentile_cont, or the same computed here (SQLite)."""
    orders = RenewalOrder.objects.filter(
        paid_at__gte=period.start, paid_at__lt=period.end, status=S.COMPLETED, completed_at__isnull=False
    )
    if currency:
        orders = orders.filter(currency=currency)
    if connection.vendor == "postgresql":
        seconds = _EpochSeconds(
            ExpressionWrapper(F("completed_at") - F("paid_at"), output_field=DurationField())
        )
        rows = (
            orders.values("provider")
            .annotate(median=_PercentileCont(seconds, 0.5), p95=_PercentileCont(seconds, 0.95))
            .order_by()
        )
        return {row["provider"]: (row["median"], row["p95"]) for row in rows}
    durations: dict[str, list[float]] = defaultdict(list)
    for provider, paid_at, completed_at in orders.values_list("provider", "paid_at", "completed_at"):
        durations[provider].append((completed_at - paid_at).total_seconds())
    return {
        provider: (percentile_cont(values, 0.5), percentile_cont(values, 0.95))
        for provider, values in durations.items()
    }


class _EpochSeconds(Func):
    """PostgreSQL: the seconds of an interval."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """What PostgreSQL's percentile_cont answers: linear interpolation between the nearest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


# --- status lookups per provider per day ---------------------------------------------------------


@dataclass(frozen=True)
class LookupDay:
    provider: str
    day: date
    calls: int
    failures: int
    buckets: tuple[int, ...] = field(default=())

    @property
    def availability(self) -> float | None:
        """Share of lookups the provider answered, 0..1 (None without lookups)."""
        return (self.calls - self.failures) / self.calls if self.calls else None

    @property
    def p95_ms(self) -> float | None:
        return histogram_quantile(0.95, self.buckets)


def lookups_per_day(period: Period) -> list[LookupDay]:
    """Per provider and day with any lookup in the period, by provider then day."""
    grouped = (
        ProviderLookupHour.objects.filter(hour__gte=period.start, hour__lt=period.end)
        .annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("provider", "day")
        .annotate(
            total_calls=Sum("calls"),
            total_failures=Sum("failures"),
            **{f"sum_{name}": Sum(name) for name in BUCKET_FIELDS},
        )
        .order_by("provider", "day")
    )
    return [
        LookupDay(
            provider=row["provider"],
            day=row["day"],
            calls=row["total_calls"],
            failures=row["total_failures"],
            buckets=tuple(row[f"sum_{name}"] for name in BUCKET_FIELDS),
        )
        for row in grouped
    ]


def histogram_quantile(fraction: float, buckets: tuple[int, ...] | list[int]) -> float | None:
    """The quantile of a histogram of LATENCY_BUCKETS_MS (non-cumulative counts), in ms.

    Linear within the bucket that holds the rank, from its lower to its upper bound; in the last,
    unbounded bucket the answer is the last finite bound (as Prometheus' `histogram_quantile`).
    """
    total = sum(buckets)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            if index >= len(LATENCY_BUCKETS_MS):
                return float(LATENCY_BUCKETS_MS[-1])
            lower = LATENCY_BUCKETS_MS[index - 1] if index else 0
            upper = LATENCY_BUCKETS_MS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


# --- orders that need attention ------------------------------------------------------------------


@dataclass(frozen=True)
class Attention:
    counts: dict[str, int]  # ATTENTION_LABELS key (and "all") -> orders
    orders: list[RenewalOrder]  # the oldest first, at most `limit`


def orders_needing_attention(limit: int = 25, now: datetime | None = None) -> Attention:
    """The order admin's "needs attention" filter, now: counts per kind and the oldest orders."""
    orders = list(
        RenewalOrder.objects.filter(staff_actions.needs_attention_q("all", now))
        .only(
            "pk", "order_id", "status", "provider", "amount", "currency", "iccid", "created_at", "updated_at"
        )
        .order_by("created_at", "pk")[:limit]
    )
    return Attention(counts=staff_actions.attention_counts(now), orders=orders)


# --- usage alerts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertFigures:
    """The usage-alert conversion of the period, or why it could not be read."""

    conversion: alerts.AlertConversion | None
    problem: str = ""


def alert_conversion(period: Period) -> AlertFigures:
    """Alert e-mails sent in the period and how many were followed by a paid renewal of that eSIM
    within 7 days (`pulse.selectors.alerts.alert_renewal_conversion`, docs/alerts.md). A failure is
    logged and shown in its section: it must not take the rest of the overview down."""
    try:
        return AlertFigures(alerts.alert_renewal_conversion(period.start, period.end))
    except Exception:
        logger.exception("usage-alert figures failed", extra={"since": period.first, "until": period.last})
        return AlertFigures(None, problem="The usage-alert figures failed (see the log).")
