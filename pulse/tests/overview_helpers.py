"""Orders with known timestamps for the overview tests and benchmarks/overview_100k.py."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pulse.models import OrderStatus, RenewalOrder

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
