"""Renewal endpoints: options, create, confirm, order polling, and the payment webhook."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pulse.exceptions import NotFound, PaymentNotCompleted
from pulse.formatting import iso_utc
from pulse.models import OrderStatus, RenewalOrder
from pulse.serializers import ErrorSerializer
from pulse.services.confirm import renewal_payment_confirm
from pulse.services.order_state import PAID_STATES
from pulse.services.renewal_options import option_dict, renewal_options
from pulse.services.renewals import renewal_order_create
from pulse.services.webhooks import payment_webhook_receive
from pulse.views.renewal_serializers import (
    ConfirmResponseSerializer,
    CreateResponseSerializer,
    OptionsResponseSerializer,
    OrderSerializer,
    order_dict,
)


class RenewalOptionsApi(APIView):
    """Bundles that can renew this eSIM, matched to its plan and country, priced by the server."""

    throttle_scope = "options"

    class RenewalOptionsInputSerializer(serializers.Serializer):
        iccid = serializers.CharField(required=False, allow_blank=True, max_length=64)
        currency = serializers.CharField(required=False, max_length=8)

    @extend_schema(
        parameters=[
            OpenApiParameter("iccid", str, required=True),
            OpenApiParameter("currency", str, description="USD or EUR (SUPPORTED_CURRENCIES)"),
        ],
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
            }
        )


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class RenewalCreateApi(APIView):
    """Create a renewal order and its checkout; the server decides bundle and price."""

    throttle_scope = "create"

    class RenewalCreateInputSerializer(serializers.Serializer):
        # The published frontend's body, accepted exactly as it sends it. Only iccid, currency,
        # bundle, expected_price and the e-mail are used; the rest is kept with the order as sent.
        iccid = serializers.CharField(required=False, allow_blank=True, max_length=64)
        currency = serializers.CharField(required=False, allow_blank=True, max_length=8)
        bundle = serializers.CharField(required=False, allow_blank=True, max_length=128)
        expected_price = serializers.DecimalField(
            required=False, max_digits=12, decimal_places=2, min_value=0
        )
        customer_email = serializers.EmailField(required=False, allow_blank=True)
        email = serializers.EmailField(required=False, allow_blank=True)
        provider = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=32)
        order_sim_id = serializers.CharField(
            required=False, allow_blank=True, allow_null=True, max_length=255
        )
        plan_name = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=255)
        package_name = serializers.CharField(
            required=False, allow_blank=True, allow_null=True, max_length=255
        )
        package_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=255)
        amount = serializers.DecimalField(
            required=False, allow_null=True, max_digits=12, decimal_places=2, help_text="Legacy; ignored."
        )
        renewal_days = serializers.IntegerField(required=False, allow_null=True)
        country_code = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=8)

    @extend_schema(
        request=RenewalCreateInputSerializer,
        responses={
            201: CreateResponseSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="price_changed"),
            429: ErrorSerializer,
            502: OpenApiResponse(ErrorSerializer, description="payment_gateway_rejected"),
            503: ErrorSerializer,
        },
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
            client_request=_as_sent(request.data),
            site_url=request.build_absolute_uri("/").rstrip("/"),
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


def _as_sent(data) -> dict:
    """The client's body as JSON-safe values, for the record (never used to decide anything)."""
    return {
        str(key): value
        for key, value in dict(data).items()
        if isinstance(value, str | int | float | bool | None)
    }


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class RenewalConfirmApi(APIView):
    """Verify the payment with the gateway and fulfil exactly once; safe to call any number of times."""

    throttle_scope = "confirm"

    class RenewalConfirmInputSerializer(serializers.Serializer):
        session_id = serializers.CharField(max_length=255)

    @extend_schema(
        request=RenewalConfirmInputSerializer,
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
        responses={
            200: inline_serializer("OrderEnvelope", {"order": OrderSerializer()}),
            404: ErrorSerializer,
            429: ErrorSerializer,
        }
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
        request=None,
        responses={
            200: inline_serializer("WebhookAck", {"result": serializers.CharField()}),
            400: ErrorSerializer,
        },
    )
    def post(self, request):
        # InvalidSignature becomes 400 in the exception handler; nothing is stored for it.
        result = payment_webhook_receive(body=request.body, signature=request.headers.get("Stripe-Signature"))
        return Response({"result": result})
