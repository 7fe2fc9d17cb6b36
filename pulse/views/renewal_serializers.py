"""Response shapes of the renewal endpoints (built as dicts; these document them in OpenAPI)."""

from __future__ import annotations

from rest_framework import serializers

from pulse.formatting import iso_utc
from pulse.models import RenewalOrder


def order_dict(order: RenewalOrder) -> dict:
    """The order as the published frontend reads it (order_id, iccid, provider, amount, currency, status)."""
    return {
        "order_id": order.order_id,
        "status": order.status,
        "iccid": order.iccid,
        "provider": order.provider.upper(),
        "bundle": order.bundle_code,
        "plan_name": order.bundle_name,
        "amount": str(order.amount),
        "currency": order.currency,
        "created_at": iso_utc(order.created_at),
        "paid_at": iso_utc(order.paid_at),
        "completed_at": iso_utc(order.completed_at),
        "refunded_at": iso_utc(order.refunded_at),
    }


class OrderSerializer(serializers.Serializer):
    order_id = serializers.CharField()
    status = serializers.CharField()
    iccid = serializers.CharField()
    provider = serializers.CharField()
    bundle = serializers.CharField()
    plan_name = serializers.CharField()
    amount = serializers.CharField(help_text='Decimal string, e.g. "1.60"')
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    refunded_at = serializers.DateTimeField(allow_null=True)


class PaymentSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()
    session_id = serializers.CharField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class CreateResponseSerializer(serializers.Serializer):
    order = OrderSerializer()
    payment = PaymentSerializer()
    reused = serializers.BooleanField(
        help_text="True when an open checkout for the same renewal was returned."
    )


class ConfirmResponseSerializer(serializers.Serializer):
    order = OrderSerializer()
    message = serializers.CharField()


class OptionSerializer(serializers.Serializer):
    bundle = serializers.CharField()
    name = serializers.CharField()
    data = serializers.CharField()
    data_bytes = serializers.IntegerField(allow_null=True)
    unlimited = serializers.BooleanField()
    days = serializers.IntegerField(allow_null=True)
    countries = serializers.ListField(child=serializers.CharField())
    region = serializers.CharField(allow_null=True)
    price = serializers.CharField()
    currency = serializers.CharField()
    formatted_price = serializers.CharField()
    same_plan = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())


class CurrentPlanSerializer(serializers.Serializer):
    name = serializers.CharField(allow_null=True)
    code = serializers.CharField(allow_null=True)
    country_code = serializers.CharField(allow_null=True)
    data_bytes = serializers.IntegerField(allow_null=True)
    unlimited = serializers.BooleanField()
    days = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()


class OptionsResponseSerializer(serializers.Serializer):
    iccid = serializers.CharField()
    provider = serializers.CharField()
    current_plan = CurrentPlanSerializer()
    currency = serializers.CharField()
    same_plan_bundle = serializers.CharField(allow_null=True)
    options = OptionSerializer(many=True)
    sales_paused = serializers.BooleanField(
        help_text="The provider cannot fulfil renewals right now (its wallet ran dry): no option is offered."
    )
    message = serializers.CharField(allow_null=True, help_text="Why no option is offered, for the customer.")


# A Stripe event (https://docs.stripe.com/api/events/object); anything else fails the signature.
WEBHOOK_EVENT_SCHEMA = {
    "type": "object",
    "description": "A Stripe event, signed; verified on the raw body before anything is read from it",
    "example": {
        "id": "evt_1QxExampleEvent",
        "object": "event",
        "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_test_a1ExampleSession", "object": "checkout.session"}},
    },
}
