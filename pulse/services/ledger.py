"""The payment ledger: one PaymentTransaction row per charge and per refund."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from pulse.models import PaymentTransaction, RenewalOrder


def ledger_record(*, order: RenewalOrder, kind: str, reference: str, status: str, raw: dict) -> None:
    """Set the status of the row for (order, kind, gateway reference), creating it if needed.

    Safe to call from racing confirm calls and webhooks: the row is unique, so a concurrent writer
    that created it first wins and this call changes nothing.
    """
    updated = PaymentTransaction.objects.filter(order=order, kind=kind, gateway_reference=reference).update(
        status=status, raw=raw
    )
    if updated:
        return
    try:
        with transaction.atomic():
            PaymentTransaction.objects.create(
                order=order,
                kind=kind,
                status=status,
                amount=order.amount,
                currency=order.currency,
                gateway_reference=reference,
                raw=raw,
            )
    except IntegrityError:
        pass  # recorded by a concurrent confirm or webhook
