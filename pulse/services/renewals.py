"""Creating renewal orders and their checkout sessions (docs/renewals.md, "Create").

The order row exists before the checkout session; the bundle and price are re-derived from a status
lookup and the catalogue. A repeated create by the same requester (Idempotency-Key or e-mail) for
the same eSIM and bundle while its checkout is still open returns that checkout instead of opening
a second one (`order_reuse`); a create without a requester identity is always a new order. While the
eSIM's provider has its sales paused (`wallets`: its prepaid wallet ran dry) create answers 503
`renewals_paused` before any order or checkout exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from providers.iccid import mask_iccid
from pulse.exceptions import Conflict, PaymentGatewayUnavailable, PriceChanged, UpstreamRejected
from pulse.models import OrderStatus, PaymentTransaction, RenewalOrder
from pulse.payments import CheckoutRequest, GatewayError, GatewayUnavailable, get_gateway
from pulse.services import order_reuse, order_state, wallets
from pulse.services.money import format_money
from pulse.services.renewal_options import NoRenewalOptions, RenewalOption, RenewalOptions, renewal_options

logger = logging.getLogger(__name__)


class NoSamePlanBundle(NoRenewalOptions):
    code = "no_same_plan"
    default_message = "The current plan is no longer sold; choose a bundle from the renewal options."


class UnknownBundle(Conflict):
    """409 like price_changed: the bundle is not among this eSIM's options now (the catalogue may
    have changed since the options were read); the request itself is well formed."""

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
    bundle_code: str = "",
    expected_price: Decimal | None = None,
    customer_email: str = "",
    idempotency_key: str = "",
    client_request: dict | None = None,
) -> CreateResult:
    options = renewal_options(iccid=iccid, currency=currency)
    if options.sales_paused:  # before any order row or checkout: nobody pays for what cannot be fulfilled
        wallets.ensure_sales_open(options.plan.provider)
    option = _chosen_option(options, bundle_code)
    if expected_price is not None and expected_price != option.quote.amount:
        price = format_money(option.quote.amount, option.quote.currency)
        raise PriceChanged(
            f"The price is now {price}.",
            details=f"You expected {expected_price} {option.quote.currency}; the server price is {option.quote.amount}.",
        )

    def insert(key: str | None) -> RenewalOrder:
        return _insert_order(options, option, customer_email, client_request or {}, reuse_key=key)

    identity = order_reuse.requester_identity(idempotency_key=idempotency_key, customer_email=customer_email)
    if identity is None:
        order = insert(None)  # nobody to hand an open checkout back to: always a new order
    else:
        key = order_reuse.reuse_key(
            identity,
            iccid=options.status.public["iccid"],
            provider=option.bundle.provider,
            bundle_code=option.bundle.code,
            currency=option.quote.currency,
        )
        order, reused = _claim_or_reuse(key, option.quote.amount, insert)
        if reused:
            logger.info("renewal order %s handed back to its requester", order.order_id)
            return CreateResult(order, reused=True)
    _open_checkout_session(order)
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


def _claim_or_reuse(
    key: str, amount: Decimal, insert: Callable[[str], RenewalOrder]
) -> tuple[RenewalOrder, bool]:
    """(a new order holding `key`, False), or (the requester's open order, True).

    The unique `reuse_key` column decides between racing twins: one insert wins, the others find
    its order and wait until its checkout is open. An order that can no longer be handed back gives
    its key up first, so a new create never fails on the constraint.
    """
    deadline = time.monotonic() + order_reuse.TWIN_WAIT_SECONDS
    while time.monotonic() < deadline:
        holder = RenewalOrder.objects.filter(reuse_key=key).first()
        if holder is None:
            try:
                return insert(key), False
            except IntegrityError:
                continue  # a twin inserted first: hand its order back on the next look
        now = timezone.now()
        if order_reuse.reusable(holder, amount=amount, now=now):
            return holder, True
        if order_reuse.being_opened(holder, now=now):
            time.sleep(order_reuse.TWIN_POLL_SECONDS)
        else:
            order_reuse.release(holder)
    raise order_reuse.CreateInProgress(
        details="Another request is opening the checkout for the same renewal.", retry_after=2
    )


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


def _insert_order(
    options: RenewalOptions, option: RenewalOption, email: str, client_request: dict, *, reuse_key: str | None
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
            reuse_key=reuse_key,
            gateway=get_gateway().name,
            checkout_expires_at=timezone.now() + timedelta(minutes=settings.STRIPE_CHECKOUT_EXPIRY_MINUTES),
        )
        order_state.record(
            order, by="api", action="created", note=f"{bundle.code} at {quote.amount} {quote.currency}"
        )
    return order


def _open_checkout_session(order: RenewalOrder) -> None:
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
