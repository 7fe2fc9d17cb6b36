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
