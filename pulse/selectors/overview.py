"""The numbers of the staff overview (`/admin/overview/`, docs/operations.md "Overview").

Pure read functions over a `Period` of whole days (UTC). Each figure is aggregated in the database
(one grouped query per table), so the page stays fast with 100,000 orders (benchmarks/overview_100k.py).

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
- orders that need attention: the order admin's "needs attention" filter, now.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Func, Q, Sum
from django.db.models.functions import TruncDate

from pulse.models import OrderStatus, ProviderLookupHour, RenewalOrder
from pulse.models.overview import BUCKET_FIELDS, LATENCY_BUCKETS_MS
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
ALERTS_SELECTOR = "pulse.selectors.alerts"


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

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


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


def revenue_per_day(period: Period, currency: str | None = None) -> list[RevenueDay]:
    """Per day and currency with any payment or refund in the period, by day then currency."""
    orders = RenewalOrder.objects.all()
    if currency:
        orders = orders.filter(currency=currency)
    paid = _money_by_day(orders.filter(paid_at__gte=period.start, paid_at__lt=period.end), "paid_at")
    refunded = _money_by_day(
        orders.filter(status=S.REFUNDED, refunded_at__gte=period.start, refunded_at__lt=period.end),
        "refunded_at",
    )
    rows = []
    for key in sorted(set(paid) | set(refunded)):
        paid_sum, paid_count = paid.get(key, (ZERO, 0))
        refund_sum, refund_count = refunded.get(key, (ZERO, 0))
        rows.append(RevenueDay(key[0], key[1], paid_sum, refund_sum, paid_count, refund_count))
    return rows


def _money_by_day(orders, stamp: str) -> dict[tuple[date, str], tuple[Decimal, int]]:
    grouped = (
        orders.annotate(day=TruncDate(stamp, tzinfo=UTC))
        .values("day", "currency")
        .annotate(total=Sum("amount"), count=Count("pk"))
        .order_by()
    )
    return {(row["day"], row["currency"]): (Decimal(row["total"]), row["count"]) for row in grouped}


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


def renewals_per_day(period: Period, currency: str | None = None) -> list[RenewalsDay]:
    """Every day of the period (zeros included): orders created that day, by what became of them."""
    orders = RenewalOrder.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    if currency:
        orders = orders.filter(currency=currency)
    grouped = (
        orders.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "status")
        .annotate(count=Count("pk"))
        .order_by()
    )
    group_of = {status: group for group, statuses in END_STATES.items() for status in statuses}
    by_day: dict[date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(END_STATES, 0))
    for row in grouped:
        by_day[row["day"]][group_of[row["status"]]] += row["count"]
    return [
        RenewalsDay(day, dict(by_day[day]) if day in by_day else dict.fromkeys(END_STATES, 0))
        for day in period.days()
    ]


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


def fulfilment_per_provider(period: Period, currency: str | None = None) -> list[ProviderFulfilment]:
    """Orders paid in the period, per provider (top-ups placed = paid orders, whose top-up was due)."""
    paid = RenewalOrder.objects.filter(paid_at__gte=period.start, paid_at__lt=period.end)
    if currency:
        paid = paid.filter(currency=currency)
    completed = Q(status=S.COMPLETED, completed_at__isnull=False)
    aggregates = {
        "placed": Count("pk"),
        "completed": Count("pk", filter=Q(status=S.COMPLETED)),
        "failed": Count("pk", filter=Q(status__in=FAILED_AFTER_PAYMENT)),
        "refunded": Count("pk", filter=Q(status=S.REFUNDED)),
    }
    if connection.vendor == "postgresql":  # the percentiles in the same scan of the orders
        seconds = _EpochSeconds(
            ExpressionWrapper(F("completed_at") - F("paid_at"), output_field=DurationField())
        )
        aggregates["median"] = _PercentileCont(seconds, 0.5, filter=completed)
        aggregates["p95"] = _PercentileCont(seconds, 0.95, filter=completed)
    counts = list(paid.values("provider").annotate(**aggregates).order_by("provider"))
    if connection.vendor == "postgresql":
        times = {row["provider"]: (row["median"], row["p95"]) for row in counts}
    else:
        times = _completion_percentiles(paid.filter(completed))
    return [
        ProviderFulfilment(
            provider=row["provider"],
            placed=row["placed"],
            completed=row["completed"],
            failed=row["failed"],
            refunded=row["refunded"],
            median_seconds=times.get(row["provider"], (None, None))[0],
            p95_seconds=times.get(row["provider"], (None, None))[1],
        )
        for row in counts
    ]


class _PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(f) WITHIN GROUP (ORDER BY x)`: linear between the two nearest."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), output_field=FloatField(), **extra)


def _completion_percentiles(orders) -> dict[str, tuple[float | None, float | None]]:
    """(median, p95) seconds from payment to completion, per provider, computed here (not PostgreSQL)."""
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
class AlertConversion:
    available: bool
    figures: dict = field(default_factory=dict)
    reason: str = ""


def alert_conversion(period: Period) -> AlertConversion:
    """Alerts sent and the share followed by a renewal within 7 days, from the usage-alerts feature
    (`pulse.selectors.alerts.alert_renewal_conversion(since, until)`) when it is installed."""
    function = _alerts_function()
    if function is None:
        return AlertConversion(False, reason="Usage alerts are not installed.")
    try:
        figures = function(period.start, period.end)
    except Exception:  # another feature's bug must not take the whole overview down
        logger.exception("usage-alert figures failed")
        return AlertConversion(False, reason="The usage-alert figures failed (see the log).")
    if figures is None:
        return AlertConversion(False, reason="No figures.")
    if not isinstance(figures, dict):
        figures = {key: value for key, value in vars(figures).items() if not key.startswith("_")}
    return AlertConversion(True, figures=figures)


def _alerts_function() -> Callable | None:
    try:
        module = importlib.import_module(ALERTS_SELECTOR)
    except ModuleNotFoundError as exc:
        if exc.name and ALERTS_SELECTOR.startswith(exc.name):
            return None  # not installed (yet); any other missing module is a real error
        raise
    return getattr(module, "alert_renewal_conversion", None)
