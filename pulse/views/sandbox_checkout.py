"""The sandbox gateway's checkout page: a person chooses Pay / Fail / Expire.

It drives the same code path as Stripe: the choice becomes a Stripe-shaped event signed with the
same scheme and handed to the same webhook handler, then the browser goes to the success (or cancel)
URL exactly as Stripe Checkout would send it.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views import View

from providers.iccid import mask_iccid
from pulse.models import RenewalOrder, SandboxCheckout
from pulse.payments import GatewayRejected, get_gateway
from pulse.services.money import format_money
from pulse.services.webhooks import payment_webhook_receive

logger = logging.getLogger(__name__)

OUTCOMES = {"pay": "paid", "fail": "failed", "expire": "expired"}


def _sandbox_gateway():
    gateway = get_gateway()
    if gateway.name != "sandbox":
        raise Http404("The sandbox checkout exists only with PAYMENT_GATEWAY=sandbox.")
    return gateway


class SandboxCheckoutView(View):
    template_name = "pulse/sandbox_checkout.html"

    def get(self, request, session_id: str):
        gateway = _sandbox_gateway()
        if not SandboxCheckout.objects.filter(session_id=session_id).exists():
            raise Http404("Unknown checkout session.")
        gateway.retrieve_checkout(session_id)  # applies an expiry that passed
        checkout = SandboxCheckout.objects.get(session_id=session_id)
        order = RenewalOrder.objects.filter(checkout_session_id=session_id).first()
        return render(request, self.template_name, _context(checkout, order))

    def post(self, request, session_id: str):
        gateway = _sandbox_gateway()
        outcome = OUTCOMES.get(request.POST.get("action", ""))
        checkout = SandboxCheckout.objects.filter(session_id=session_id).first()
        if checkout is None or outcome is None:
            raise Http404("Unknown checkout session or action.")
        # Reading through the gateway applies an expiry that passed since the page was shown.
        if gateway.retrieve_checkout(session_id).status == "open":
            try:
                _state, body, signature = gateway.sandbox_complete(session_id, outcome)
            except GatewayRejected:
                # A double click: the other click closed the session after we read it. Not an
                # error for this browser: send it where the session's actual state says.
                logger.info("sandbox checkout %s: %s lost to a concurrent click", session_id, outcome)
            else:
                result = payment_webhook_receive(body=body, signature=signature)
                logger.info("sandbox checkout %s: %s (webhook %s)", session_id, outcome, result)
        # Where Stripe would send the browser for the session's ACTUAL state: a Pay clicked on a page
        # whose session expired meanwhile goes to the cancel page, not to the success page.
        return HttpResponseRedirect(gateway.sandbox_return_url(session_id))


def _context(checkout: SandboxCheckout, order: RenewalOrder | None) -> dict:
    from pulse.payments.minor_units import from_minor

    amount = from_minor(checkout.amount_minor, checkout.currency)
    return {
        "checkout": checkout,
        "order": order,
        "masked_iccid": mask_iccid(order.iccid) if order else "",
        "price": format_money(amount, checkout.currency.upper()),
        "is_open": checkout.status == "open",
    }
