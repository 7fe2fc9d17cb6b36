"""The sandbox gateway's checkout page: a person chooses Pay / Fail / Expire.

It drives the same code path as Stripe: the choice becomes a Stripe-shaped event signed with the
same scheme and handed to the same webhook handler, then the browser goes to the success (or cancel)
URL exactly as Stripe Checkout would send it.

With DEBUG off only staff may press a button (docs/payments.md, "The sandbox gateway"): the sandbox
takes no money, but the top-up it triggers is real when real provider credentials are configured, so
an anonymous Pay would be a free eSIM bundle. Anyone may still look at the page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
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
        return render(request, self.template_name, _context(request, checkout, order))

    def post(self, request, session_id: str):
        gateway = _sandbox_gateway()
        if not may_complete(request):
            return _refused(request, session_id)
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
                logger.info(
                    "sandbox checkout %s: %s by %s (webhook %s)",
                    session_id,
                    outcome,
                    _who(request),
                    result,
                )
        # Where Stripe would send the browser for the session's ACTUAL state: a Pay clicked on a page
        # whose session expired meanwhile goes to the cancel page, not to the success page.
        return HttpResponseRedirect(gateway.sandbox_return_url(session_id))


def may_complete(request: HttpRequest) -> bool:
    """Who may press Pay / Fail / Expire: anyone in development, only staff with DEBUG off."""
    return settings.DEBUG or (request.user.is_authenticated and request.user.is_staff)


def _refused(request: HttpRequest, session_id: str):
    """403 with a page that says why; nothing about the order or the session changes."""
    logger.warning("sandbox checkout %s: refused a non-staff click (DEBUG is off)", session_id)
    context = {"refused": True, "login_url": _login_url(request)}
    return render(request, SandboxCheckoutView.template_name, context, status=403)


def _login_url(request: HttpRequest) -> str:
    return f"{reverse('admin:login')}?{urlencode({'next': request.path})}"


def _who(request: HttpRequest) -> str:
    return f"staff {request.user.get_username()}" if request.user.is_authenticated else "anonymous (DEBUG)"


def _context(request: HttpRequest, checkout: SandboxCheckout, order: RenewalOrder | None) -> dict:
    from pulse.payments.minor_units import from_minor

    amount = from_minor(checkout.amount_minor, checkout.currency)
    return {
        "checkout": checkout,
        "order": order,
        "masked_iccid": mask_iccid(order.iccid) if order else "",
        "price": format_money(amount, checkout.currency.upper()),
        "is_open": checkout.status == "open",
        "may_complete": may_complete(request),
        "login_url": _login_url(request),
    }
