"""Renewal endpoints: options, create, confirm, order polling, and the payment webhook."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.exceptions import InvalidInput, NotFound, PayloadTooLarge, PaymentNotCompleted
from pulse.formatting import iso_utc
from pulse.models import OrderStatus, RenewalOrder
from pulse.serializers import ErrorSerializer
from pulse.services import wallets
from pulse.services.confirm import renewal_payment_confirm
from pulse.services.order_reuse import IDEMPOTENCY_KEY_MAX_LENGTH
from pulse.services.order_state import PAID_STATES
from pulse.services.renewal_options import option_dict, renewal_options
from pulse.services.renewals import renewal_order_create
from pulse.services.webhooks import payment_webhook_receive
from pulse.views.input_fields import (
    DEMO_ICCID,
    ID_PATTERN,
    CurrencyField,
    IccidField,
    MoneyAmountField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    legacy_text_field,
)
from pulse.views.renewal_serializers import (
    WEBHOOK_EVENT_SCHEMA,
    ConfirmResponseSerializer,
    CreateResponseSerializer,
    OptionsResponseSerializer,
    OrderSerializer,
    order_dict,
)

logger = logging.getLogger(__name__)


class RenewalOptionsApi(APIView):
    """Bundles that can renew this eSIM, matched to its plan and country, priced by the server."""

    throttle_scope = "options"

    class RenewalOptionsInputSerializer(serializers.Serializer):
        iccid = IccidField()
        currency = CurrencyField(required=False, help_text="Default: STRIPE_CURRENCY")

    @extend_schema(
        parameters=[RenewalOptionsInputSerializer],
        responses={
            200: OptionsResponseSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="esim_not_renewable"),
            429: ErrorSerializer,
            503: ErrorSerializer,
        },
    )
    def get(self, request):
        data = self.RenewalOptionsInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        currency = data.validated_data.get("currency") or settings.STRIPE_CURRENCY
        result = renewal_options(iccid=data.validated_data.get("iccid", ""), currency=currency)
        same = result.same_plan
        return Response(
            {
                "iccid": result.status.public["iccid"],
                "provider": result.plan.provider.upper(),
                "current_plan": {
                    "name": result.plan.plan_name or None,
                    "code": result.plan.plan_code or None,
                    "country_code": result.plan.country_code or None,
                    "data_bytes": result.plan.data_bytes,
                    "unlimited": result.plan.unlimited,
                    "days": result.plan.duration_days,
                    "status": result.status.public["status"],
                },
                "currency": result.currency,
                "same_plan_bundle": same.bundle.code if same else None,
                "options": [option_dict(option) for option in result.options],
                "sales_paused": result.sales_paused,
                "message": wallets.CUSTOMER_MESSAGE if result.sales_paused else None,
            }
        )


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class RenewalCreateApi(APIView):
    """Create a renewal order and its checkout; the server decides bundle and price."""

    throttle_scope = "create"

    class RenewalCreateInputSerializer(serializers.Serializer):
        # The published frontend's body, accepted exactly as it sends it. Only iccid, currency,
        # bundle, expected_price and the e-mail are used; the known fields are kept with the order.
        iccid = IccidField()
        currency = CurrencyField(required=False, help_text="Default: STRIPE_CURRENCY")
        bundle = StrictCharField(
            required=False,
            allow_blank=True,
            max_length=128,
            help_text="A bundle code from GET renewal/options/; default: the eSIM's current plan",
        )
        expected_price = MoneyAmountField(
            required=False, help_text="The price the customer saw; 409 price_changed when it differs"
        )
        customer_email = StrictEmailField(
            required=False, allow_blank=True, help_text="Where the receipt goes; empty = none"
        )
        email = StrictEmailField(required=False, allow_blank=True, help_text="Alias of customer_email")
        # Sent by the published frontend, kept for the record, never used to decide anything.
        provider = legacy_text_field(32)
        order_sim_id = legacy_text_field(255)
        plan_name = legacy_text_field(255)
        package_name = legacy_text_field(255)
        package_id = legacy_text_field(255)
        amount = MoneyAmountField(
            required=False,
            allow_null=True,
            help_text="Legacy (the frontend sends 10); the server price is charged",
        )
        renewal_days = StrictIntegerField(
            required=False, allow_null=True, min_value=0, max_value=3650, help_text="Legacy; ignored"
        )
        country_code = legacy_text_field(8)

    @extend_schema(
        request=RenewalCreateInputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH, "example": "tab-4f9c2e"},
                OpenApiParameter.HEADER,
                description=(
                    "Names the requester: a repeated create with the same key (and e-mail) gets its own "
                    "open order back instead of a second checkout. Without a key or an e-mail every "
                    "create is a new order."
                ),
            )
        ],
        responses={
            201: CreateResponseSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="price_changed, invalid_bundle, esim_not_renewable, create_in_progress",
            ),
            413: ErrorSerializer,
            429: ErrorSerializer,
            502: OpenApiResponse(ErrorSerializer, description="payment_gateway_rejected"),
            503: OpenApiResponse(
                ErrorSerializer,
                description="renewals_paused (the provider's wallet ran dry; no checkout was opened), "
                "providers_unavailable, payment_gateway_unavailable",
            ),
        },
        examples=[
            OpenApiExample(
                "The published frontend's body",
                value={
                    "iccid": DEMO_ICCID,
                    "provider": "TRAVELROAM",
                    "order_sim_id": DEMO_ICCID,
                    "plan_name": "eSIM, 1GB, 7 Days, Turkey, V2",
                    "amount": 10,
                    "currency": "USD",
                    "package_name": "Turkey 1GB",
                    "renewal_days": 7,
                    "country_code": None,
                },
                request_only=True,
            ),
            OpenApiExample(
                "A chosen bundle at the price shown",
                value={
                    "iccid": DEMO_ICCID,
                    "currency": "USD",
                    "bundle": "esim_1GB_7D_TR_V2",
                    "expected_price": "1.60",
                    "customer_email": "buyer@example.com",
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request):
        data = self.RenewalCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        result = renewal_order_create(
            iccid=values.get("iccid", ""),
            currency=values.get("currency") or settings.STRIPE_CURRENCY,
            bundle_code=values.get("bundle", ""),
            expected_price=values.get("expected_price"),
            customer_email=values.get("customer_email") or values.get("email") or "",
            idempotency_key=_idempotency_key(request),
            client_request=_client_request(values),
        )
        order = result.order
        body = {
            "order": order_dict(order),
            "payment": {
                "checkout_url": order.checkout_url,
                "session_id": order.checkout_session_id,
                "amount": str(order.amount),
                "currency": order.currency,
                "expires_at": iso_utc(order.checkout_expires_at),
            },
            "reused": result.reused,
        }
        return Response(body, status=201)


def _idempotency_key(request) -> str:
    """The requester's own key for "give me my open order back" (docs/renewals.md); bounded."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        message = f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."
        raise InvalidInput(details=f"Idempotency-Key: {message}", fields={"Idempotency-Key": [message]})
    return key


# What the published frontend sends, kept with the order for the record (never used to decide anything).
# Only these keys, each validated (and so bounded) by the input serializer: an unknown key, however
# large, is dropped. The e-mail has a column of its own.
CLIENT_REQUEST_FIELDS = (
    "iccid",
    "provider",
    "order_sim_id",
    "plan_name",
    "amount",
    "currency",
    "package_name",
    "package_id",
    "renewal_days",
    "country_code",
    "bundle",
    "expected_price",
)


def _client_request(values: dict) -> dict:
    """The known fields as validated, JSON-safe (decimals as strings)."""
    return {
        key: str(values[key]) if isinstance(values[key], Decimal) else values[key]
        for key in CLIENT_REQUEST_FIELDS
        if key in values
    }


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class RenewalConfirmApi(APIView):
    """Verify the payment with the gateway and fulfil exactly once; safe to call any number of times."""

    throttle_scope = "confirm"

    class RenewalConfirmInputSerializer(serializers.Serializer):
        session_id = StrictCharField(
            pattern=ID_PATTERN, max_length=255, help_text="The checkout session id from create"
        )

    @extend_schema(
        request=RenewalConfirmInputSerializer,
        examples=[
            OpenApiExample(
                "After the sandbox checkout",
                value={"session_id": "sbx_cs_3f1c9a0e5b7d42e8a6c1f0b9d2e4a7c5"},
                request_only=True,
            )
        ],
        responses={
            200: ConfirmResponseSerializer,
            202: ConfirmResponseSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="payment_not_completed"),
            429: ErrorSerializer,
            502: OpenApiResponse(ErrorSerializer, description="payment_gateway_rejected"),
            503: ErrorSerializer,
        },
    )
    def post(self, request):
        data = self.RenewalConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = renewal_payment_confirm(session_id=data.validated_data["session_id"])
        order = result.order
        if order.status in PAID_STATES:
            return Response({"order": order_dict(order), "message": _message(order)})
        if result.processing:
            return Response(
                {
                    "order": order_dict(order),
                    "message": "Payment is processing; this page updates when it settles.",
                },
                status=202,
            )
        raise PaymentNotCompleted(details=_unpaid_details(order))


def _message(order: RenewalOrder) -> str:
    return {
        OrderStatus.COMPLETED: "Payment received and your eSIM has been topped up.",
        OrderStatus.REFUNDED: "The provider could not top up your eSIM; your payment has been refunded.",
        OrderStatus.REFUND_PENDING: "The provider could not top up your eSIM; a refund is on its way.",
        OrderStatus.MANUAL_REVIEW: "Payment received; our team is completing your renewal.",
    }.get(order.status, "Payment received; your top-up is being placed.")


def _unpaid_details(order: RenewalOrder) -> str:
    return {
        OrderStatus.EXPIRED: "The checkout expired before payment. Start a new renewal.",
        OrderStatus.FAILED: "The payment failed. Start a new renewal to try again.",
        OrderStatus.CANCELLED: "The order was cancelled. Start a new renewal.",
    }.get(order.status, "The payment has not been completed yet.")


class RenewalOrderDetailApi(APIView):
    """Order status for the frontend to poll (the order id is unguessable)."""

    throttle_scope = "confirm"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "order_id",
                {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$", "example": "REN-7K2MQ9XW4TB8HN3RCV6P"},
                OpenApiParameter.PATH,
                description="From create's order.order_id",
            )
        ],
        responses={
            200: inline_serializer("OrderEnvelope", {"order": OrderSerializer()}),
            404: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def get(self, request, order_id: str):
        order = RenewalOrder.objects.filter(order_id=order_id).first()
        if order is None:
            raise NotFound(
                "Order not found.", code="order_not_found", details=f"No renewal order {order_id}."
            )
        return Response({"order": order_dict(order)})


@method_decorator([csrf_exempt, transaction.non_atomic_requests], name="dispatch")
class PaymentWebhookApi(APIView):
    """Stripe (or sandbox) events; the signature is verified on the raw body. Not throttled."""

    throttle_classes: list = []

    @extend_schema(
        request={"application/json": WEBHOOK_EVENT_SCHEMA},
        parameters=[
            OpenApiParameter(
                "Stripe-Signature",
                {
                    "type": "string",
                    "minLength": 1,
                    "example": "t=1765000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
                },
                OpenApiParameter.HEADER,
                required=True,
                description="HMAC-SHA256 of the raw body with the webhook secret (Stripe's scheme)",
            )
        ],
        responses={
            200: inline_serializer("WebhookAck", {"result": serializers.CharField()}),
            403: OpenApiResponse(ErrorSerializer, description="invalid_signature: nothing is stored"),
            413: OpenApiResponse(
                ErrorSerializer, description="payload_too_large (PAYMENT_WEBHOOK_MAX_BYTES)"
            ),
        },
    )
    def post(self, request):
        _refuse_an_oversized_webhook(request)
        # InvalidSignature becomes 403 in the exception handler; nothing is stored for it.
        result = payment_webhook_receive(body=request.body, signature=request.headers.get("Stripe-Signature"))
        return Response({"result": result})


def _refuse_an_oversized_webhook(request) -> None:
    """Refuse from the declared length, before the body is read or its signature computed. Django
    reads no more than Content-Length, so a body without one is empty and fails the signature."""
    limit = settings.PAYMENT_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        # A real event this large would be retried by the gateway for days: say so where staff look.
        logger.warning("webhook body of %d bytes refused (PAYMENT_WEBHOOK_MAX_BYTES=%d)", declared, limit)
        raise PayloadTooLarge(details=f"Webhook bodies are limited to {limit} bytes.")
