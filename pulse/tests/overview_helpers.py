"""Orders with known timestamps for the overview tests and benchmarks/overview_100k.py."""

from __future__ import annotations

import random
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pulse.models import OrderStatus, ProviderLookupHour, RenewalOrder
from pulse.models.overview import BUCKET_FIELDS

S = OrderStatus
ICCID = "8932042000010245583"


def at(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def order_values(
    *,
    provider: str = "airhub",
    amount: str = "10.00",
    currency: str = "USD",
    status: str = S.COMPLETED,
    iccid: str = ICCID,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "iccid": iccid,
        "provider": provider,
        "esim_reference": "ref-1",
        "bundle_code": "bundle-1",
        "bundle_name": "1 GB, 7 days",
        "provider_cost": Decimal("1.0000"),
        "provider_cost_currency": "USD",
        "amount": Decimal(amount),
        "currency": currency,
        "gateway": "sandbox",
        "status": status,
        **fields,
    }


def make_order(*, created_at: datetime, **kwargs: Any) -> RenewalOrder:
    """One order; `created_at` is set after the insert (the field is auto_now_add)."""
    order = RenewalOrder.objects.create(**order_values(**kwargs))
    RenewalOrder.objects.filter(pk=order.pk).update(created_at=created_at)
    order.refresh_from_db()
    return order


def known_orders() -> dict[str, RenewalOrder]:
    """Orders of 28 Feb - 4 Mar 2026 whose overview figures are known (see each comment)."""
    made = {
        # paid and completed on day 1, 60 s from payment to completion
        "a1": make_order(created_at=at(1, 10), paid_at=at(1, 10, 5), completed_at=at(1, 10, 6)),
        # created on day 1, paid just after midnight: revenue of day 2, a renewal of day 1; 120 s
        "a2": make_order(
            created_at=at(1, 23, 50),
            amount="20.00",
            paid_at=at(2, 0, 10),
            completed_at=at(2, 0, 12),
        ),
        # the other currency; 300 s
        "a3": make_order(
            created_at=at(2, 9), amount="15.00", currency="EUR", paid_at=at(2, 9, 1), completed_at=at(2, 9, 6)
        ),
        # paid on day 2, the provider failed, refunded on day 3
        "e1": make_order(
            created_at=at(2, 11),
            provider="esimcard",
            amount="5.00",
            status=S.REFUNDED,
            paid_at=at(2, 11, 1),
            refunded_at=at(3, 8),
        ),
        # paid on day 3, waiting for staff
        "e2": make_order(
            created_at=at(3, 7),
            provider="esimcard",
            amount="7.00",
            status=S.MANUAL_REVIEW,
            paid_at=at(3, 7, 1),
        ),
        # never paid
        "t1": make_order(created_at=at(3, 9), provider="travelroam", amount="9.00", status=S.EXPIRED),
        "t2": make_order(created_at=at(3, 10), provider="travelroam", amount="8.00", status=S.PENDING),
        # before the period: its payment is not counted, its refund on day 1 is
        "e0": make_order(
            created_at=at(28, month=2),
            provider="esimcard",
            amount="4.00",
            status=S.REFUNDED,
            paid_at=at(28, month=2),
            refunded_at=at(1, 9),
        ),
        "a0": make_order(
            created_at=at(28, month=2), amount="100.00", paid_at=at(28, month=2), completed_at=at(1, 1)
        ),
        # after the period
        "t3": make_order(
            created_at=at(4), provider="travelroam", amount="50.00", paid_at=at(4), completed_at=at(4, 13)
        ),
    }
    return made


# --- many orders: the browser screenshots and benchmarks/overview_100k.py ---------------------------

PROVIDERS = ("airhub", "esimcard", "travelroam")
# (status, share): what becomes of a renewal order, roughly as in production.
OUTCOMES = (
    (S.COMPLETED, 0.70),
    (S.REFUNDED, 0.07),
    (S.MANUAL_REVIEW, 0.01),
    (S.PROVIDER_FAILED, 0.01),
    (S.EXPIRED, 0.13),
    (S.FAILED, 0.04),
    (S.CANCELLED, 0.02),
    (S.PENDING, 0.02),
)
PAID = {S.COMPLETED, S.REFUNDED, S.MANUAL_REVIEW, S.PROVIDER_FAILED}


def random_orders(count: int, *, now: datetime, days: int, rng) -> list[RenewalOrder]:
    """Unsaved orders spread over the `days` before `now` (deterministic for a seeded `rng`)."""
    statuses = [status for status, _ in OUTCOMES]
    weights = [share for _, share in OUTCOMES]
    orders = []
    for _ in range(count):
        created = now - timedelta(seconds=rng.uniform(60, days * 86400))
        status = rng.choices(statuses, weights)[0]
        fields: dict[str, Any] = {"created_at": created}
        if status in PAID:
            fields["paid_at"] = created + timedelta(seconds=rng.uniform(30, 600))
        if status == S.COMPLETED:
            fields["completed_at"] = fields["paid_at"] + timedelta(seconds=rng.lognormvariate(2.0, 0.8))
        if status == S.REFUNDED:
            fields["refunded_at"] = fields["paid_at"] + timedelta(seconds=rng.uniform(60, 3600))
        orders.append(
            RenewalOrder(
                **order_values(
                    provider=rng.choices(PROVIDERS, (5, 3, 2))[0],
                    amount=rng.choice(("4.90", "9.90", "14.90", "24.90")),
                    currency=rng.choices(("USD", "EUR"), (3, 1))[0],
                    status=status,
                    iccid=f"8944{rng.randrange(10**15):015d}",
                    **fields,
                )
            )
        )
    return orders


@contextmanager
def created_at_settable():
    """bulk_create stamps auto_now_add fields; let seeded orders keep their own created_at."""
    created = RenewalOrder._meta.get_field("created_at")
    created.auto_now_add = False
    try:
        yield
    finally:
        created.auto_now_add = True


def seed_orders(count: int, *, now: datetime, days: int = 30, seed: int = 17, batch: int = 5000) -> None:
    rng = random.Random(seed)
    with created_at_settable():
        for start in range(0, count, batch):
            RenewalOrder.objects.bulk_create(
                random_orders(min(batch, count - start), now=now, days=days, rng=rng)
            )


def seed_lookups(*, now: datetime, days: int = 30, seed: int = 17, per_hour: int = 40) -> None:
    """Hourly lookup rows for every provider over the `days` before `now`, written in bulk (the live
    path adds to rows one by one)."""
    from providers.observe import Lookup
    from pulse.services.lookup_stats import LookupCounter

    rng = random.Random(seed)
    counter = LookupCounter()
    typical = {"airhub": 0.35, "esimcard": 0.6, "travelroam": 0.25}
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    while hour <= now:
        for provider, seconds in typical.items():
            flaky = 0.15 if provider == "esimcard" and hour.day % 9 == 0 else 0.01
            for _ in range(rng.randint(per_hour // 2, per_hour)):
                failed = rng.random() < flaky
                outcome = "error:timeout" if failed else "found"
                counter.record(Lookup(provider, outcome, rng.lognormvariate(0, 0.5) * seconds), now=hour)
        hour += timedelta(hours=1)
    ProviderLookupHour.objects.bulk_create(
        [
            ProviderLookupHour(
                provider=provider,
                hour=moment,
                calls=counts.calls,
                failures=counts.failures,
                seconds_sum=counts.seconds_sum,
                **dict(zip(BUCKET_FIELDS, counts.buckets, strict=True)),
            )
            for (provider, moment), counts in counter.take().items()
        ],
        batch_size=2000,
    )
