"""Creating renewal orders and their checkout sessions (docs/renewals.md, "Create").

The order row exists before the checkout session; the bundle and price are re-derived from a status
lookup and the catalogue. A repeated create for the same eSIM and bundle while its checkout is still
open returns that checkout instead of opening a second one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from providers.iccid import mask_iccid
from pulse.exceptions import InvalidInput, PaymentGatewayUnavailable, PriceChanged, UpstreamRejected
from pulse.models import OrderStatus, PaymentTransaction, RenewalOrder
from pulse.payments import CheckoutRequest, GatewayError, GatewayUnavailable, get_gateway
from pulse.services import order_state
from pulse.services.money import format_money
from pulse.services.renewal_options import NoRenewalOptions, RenewalOption, RenewalOptions, renewal_options
from pulse.services.safe_cache import safe_cache

logger = logging.getLogger(__name__)

# An open checkout is reused only while the customer still has time to pay it.
REUSE_MARGIN = timedelta(minutes=5)
CREATE_LOCK = "renewal:create:{iccid}:{bundle}"


class NoSamePlanBundle(NoRenewalOptions):
    code = "no_same_plan"
    default_message = "The current plan is no longer sold; choose a bundle from the renewal options."


class UnknownBundle(InvalidInput):
    code = "invalid_bundle"
    default_message = "That bundle cannot renew this eSIM."


@dataclass(frozen=True)
class CreateResult:
    order: RenewalOrder
    reused: bool


def renewal_order_create(
    *,
    iccid: str,
    currency: str,
    site_url: str,
    bundle_code: str = "",
    expected_price: Decimal | None = None,
    customer_email: str = "",
    client_request: dict | None = None,
) -> CreateResult:
    options = renewal_options(iccid=iccid, currency=currency)
    option = _chosen_option(options, bundle_code)
    if expected_price is not None and expected_price != option.quote.amount:
        price = format_money(option.quote.amount, option.quote.currency)
        raise PriceChanged(
            f"The price is now {price}.",
            details=f"You expected {expected_price} {option.quote.currency}; the server price is {option.quote.amount}.",
        )
    iccid = options.status.public["iccid"]
    lock = CREATE_LOCK.format(iccid=iccid, bundle=option.bundle.code)
    if not safe_cache.add(lock, 1, 30):
        # A twin request (double click, two tabs) is creating this order right now: wait for it.
        reusable = _wait_for_open_checkout(iccid, option)
        if reusable is not None:
            return CreateResult(reusable, reused=True)
    try:
        reusable = _open_checkout(iccid, option)
        if reusable is not None:
            return CreateResult(reusable, reused=True)
        order = _insert_order(options, option, customer_email, client_request or {})
        _open_checkout_session(order, site_url)
    finally:
        safe_cache.delete(lock)
    order.refresh_from_db()
    logger.info(
        "renewal order %s created for %s: %s %s %s",
        order.order_id,
        mask_iccid(order.iccid),
        order.bundle_code,
        order.amount,
        order.currency,
        extra={"order_id": order.order_id},
    )
    return CreateResult(order, reused=False)


def _chosen_option(options: RenewalOptions, bundle_code: str) -> RenewalOption:
    if bundle_code:
        option = next((o for o in options.options if o.bundle.code == bundle_code), None)
        if option is None:
            codes = ", ".join(o.bundle.code for o in options.options) or "none"
            raise UnknownBundle(
                details=f"Bundle {bundle_code} is not a renewal option here; options: {codes}."
            )
        return option
    if options.same_plan is not None:
        return options.same_plan
    if options.options:
        raise NoSamePlanBundle(details="Pass one of the bundle codes from GET renewal/options/ as 'bundle'.")
    raise NoRenewalOptions(details="The provider's catalogue has no bundle for this eSIM's country and plan.")


def _open_checkout(iccid: str, option: RenewalOption) -> RenewalOrder | None:
    return (
        RenewalOrder.objects.filter(
            iccid=iccid,
            bundle_code=option.bundle.code,
            provider=option.bundle.provider,
            currency=option.quote.currency,
            amount=option.quote.amount,
            status=OrderStatus.PENDING,
            checkout_session_id__isnull=False,
            checkout_expires_at__gt=timezone.now() + REUSE_MARGIN,
        )
        .order_by("-created_at")
        .first()
    )


def _wait_for_open_checkout(iccid: str, option: RenewalOption) -> RenewalOrder | None:
    for _ in range(50):
        order = _open_checkout(iccid, option)
        if order is not None:
            return order
        time.sleep(0.1)
    return None


def _insert_order(
    options: RenewalOptions, option: RenewalOption, email: str, client_request: dict
) -> RenewalOrder:
    facts, bundle, quote = options.status.renewal, option.bundle, option.quote
    with transaction.atomic():
        order = RenewalOrder.objects.create(
            iccid=options.status.public["iccid"],
            provider=facts.provider,
            esim_reference=facts.esim_reference,
            bundle=bundle,
            bundle_code=bundle.code,
            bundle_name=(bundle.description or bundle.code)[:255],
            package_id=bundle.package_id,
            data_bytes=bundle.data_bytes,
            unlimited=bundle.unlimited,
            duration_days=bundle.duration_days,
            provider_cost=bundle.cost,
            provider_cost_currency=bundle.cost_currency,
            amount=quote.amount,
            currency=quote.currency,
            exchange_rate=quote.exchange_rate,
            customer_email=email,
            client_request=client_request,
            gateway=get_gateway().name,
            checkout_expires_at=timezone.now() + timedelta(minutes=settings.STRIPE_CHECKOUT_EXPIRY_MINUTES),
        )
        order_state.record(
            order, by="api", action="created", note=f"{bundle.code} at {quote.amount} {quote.currency}"
        )
    return order


def _open_checkout_session(order: RenewalOrder, site_url: str) -> None:
    # The expiry is fixed on the order before the call, so a retry with the same idempotency key
    # sends exactly the same parameters (the gateway rejects a key reused with different ones).
    expiry = order.checkout_expires_at
    request = CheckoutRequest(
        order_id=order.order_id,
        amount=order.amount,
        currency=order.currency,
        product_name="eSIM bundle renewal",
        description=order.bundle_name,
        customer_email=order.customer_email,
        success_url=f"{settings.FRONTEND_URL}/renewal/success?session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{settings.FRONTEND_URL}/renewal/cancelled",
        expires_at=expiry,
        idempotency_key=f"checkout:{order.order_id}:1",
        metadata={"order_id": order.order_id, "iccid_last4": order.iccid[-4:], "bundle": order.bundle_code},
        site_url=site_url,
    )
    try:
        info = get_gateway(order.gateway).create_checkout(request)
    except GatewayError as exc:
        order_state.transition(
            order,
            OrderStatus.PENDING,
            OrderStatus.CANCELLED,
            by="api",
            action="checkout failed",
            note=str(exc)[:500],
        )
        if isinstance(exc, GatewayUnavailable):
            raise PaymentGatewayUnavailable(
                details="The payment service did not answer; nothing was charged."
            ) from exc
        raise UpstreamRejected(
            "The payment service refused the checkout.", code="payment_gateway_rejected"
        ) from exc
    with transaction.atomic():
        RenewalOrder.objects.filter(pk=order.pk).update(
            checkout_session_id=info.session_id,
            checkout_url=info.url,
            checkout_expires_at=info.expires_at or expiry,
        )
        PaymentTransaction.objects.create(
            order=order,
            kind=PaymentTransaction.Kind.CHARGE,
            status=PaymentTransaction.Status.PENDING,
            amount=order.amount,
            currency=order.currency,
            gateway_reference=info.session_id,
        )
