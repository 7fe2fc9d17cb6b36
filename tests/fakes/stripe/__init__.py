"""A small Stripe-compatible fake HTTP server for tests and local runs (stdlib + requests, no Django).

It implements only what our Stripe gateway uses, with Stripe's object shapes and error envelopes, so the
official ``stripe`` SDK works against it unchanged (docs: payments.md §3(a), §3(b)):

    server = start_fake_stripe(webhook_url="http://127.0.0.1:8000/api/esim/stripe/webhook/",
                               webhook_secret="whsec_test_fake")
    client = stripe.StripeClient("sk_test_fake", base_addresses={"api": server.base_url},
                                 max_network_retries=0)

- API: ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}`` (and ``/line_items``),
  ``POST /v1/checkout/sessions/{id}/expire``, ``POST /v1/refunds``, ``GET /v1/refunds/{id}``,
  ``GET /v1/payment_intents/{id}``, ``GET /v1/events/{id}``, with ``Idempotency-Key`` replay.
- ``/_test/...`` control routes play the customer's part (pay, fail, expire) and inject failures; each
  answers JSON and reports the webhook deliveries it caused. ``GET /pay/{id}`` is a clickable checkout page.
- Every state change is recorded as an Event and, with a webhook URL set, POSTed there signed like Stripe.

Not modelled: automatic expiry at ``expires_at``, saved prices, modes other than ``payment``, charges and
customers. From a shell: ``python -m tests.fakes.stripe --help``.

The modules, by responsibility:

    wire.py      ids, the Stripe-Signature header, form-encoded params, JSON replies
    errors.py    Stripe's error envelope        params.py    parameter validation shared by resources
    store.py     every object behind one lock, and the Event log
    checkout.py  Checkout Sessions (API, and the customer's part: pay, delayed payments, expiry)
    payments.py  PaymentIntents and Refunds     webhooks.py  signed delivery, in the background or at once
    api.py       /v1: request log, API keys, injected failures, idempotency replay, routing
    control.py   /_test routes                  page.py      the hosted checkout page
    fake.py      FakeStripe: the store and its parts wired together
    server.py    the HTTP server, FakeStripeServer, start_fake_stripe    __main__.py  the command line
"""

from tests.fakes.stripe.errors import FakeStripeError
from tests.fakes.stripe.fake import FakeStripe
from tests.fakes.stripe.server import FakeStripeServer, start_fake_stripe
from tests.fakes.stripe.store import API_VERSION
from tests.fakes.stripe.wire import parse_stripe_form, sign_payload

__all__ = [
    "API_VERSION",
    "FakeStripe",
    "FakeStripeError",
    "FakeStripeServer",
    "parse_stripe_form",
    "sign_payload",
    "start_fake_stripe",
]
