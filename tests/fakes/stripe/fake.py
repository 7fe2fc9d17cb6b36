"""``FakeStripe``: the object store and the parts that act on it, wired together behind one lock.

The HTTP server (server.py) hands ``/v1`` calls to ``handle_api``, ``/_test`` routes to ``handle_control``
and ``/pay/{id}`` to ``checkout_page``; tests call the customer shortcuts (``pay``, ``fail``, ...) directly.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes.stripe.api import StripeApi
from tests.fakes.stripe.checkout import CheckoutSessions
from tests.fakes.stripe.control import ControlRoutes
from tests.fakes.stripe.errors import FakeStripeError
from tests.fakes.stripe.payments import PaymentsAndRefunds
from tests.fakes.stripe.store import API_VERSION, ObjectStore
from tests.fakes.stripe.webhooks import WebhookDelivery
from tests.fakes.stripe.wire import Reply


class FakeStripe(ObjectStore):
    """All fake Stripe state (``ObjectStore``: ``sessions``, ``payment_intents``, ``refunds``, ``events``,
    ``requests``, ``deliveries``, ``idempotency`` ...) and the operations on it."""

    def __init__(
        self,
        *,
        public_base: str = "",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        api_version: str = API_VERSION,
    ):
        super().__init__(
            public_base=public_base,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            api_version=api_version,
        )
        self.checkout = CheckoutSessions(self)
        self.payments = PaymentsAndRefunds(self)
        self.webhooks = WebhookDelivery(self)
        self.api = StripeApi(self, self.checkout, self.payments, self.webhooks)
        self.controls = ControlRoutes(self)

    def reset(self) -> None:
        """Forget every object, event, request and injected failure; the webhook target is kept."""
        self.webhooks.discard_pending()  # undelivered events of the old state must not reach the next test
        self.clear()

    # --- what the HTTP server calls -------------------------------------------------------------------

    def handle_api(self, method: str, path: str, raw_params: str, headers: Mapping[str, str]) -> Reply:
        return self.api.handle(method, path, raw_params, headers)

    def handle_control(self, method: str, path: str, body: str, *, redirect: bool = False) -> Reply:
        return self.controls.handle(method, path, body, redirect=redirect)

    def checkout_page(self, session_id: str) -> Reply:
        return self.controls.checkout_page(session_id)

    # --- the customer's part and other test controls --------------------------------------------------
    # A customer action changes state under the lock, then delivers its events synchronously and reports
    # the receiver's HTTP status, so a test knows the webhook has been handled when the call returns.

    def pay(self, session_id: str) -> dict[str, Any]:
        """Card payment: complete + paid, a succeeded PaymentIntent, ``checkout.session.completed``."""
        return self._act(lambda: self.checkout.pay(session_id))

    def async_pending(self, session_id: str) -> dict[str, Any]:
        """Delayed method submitted: complete + unpaid, ``checkout.session.completed`` (unpaid)."""
        return self._act(lambda: self.checkout.async_pending(session_id))

    def async_succeed(self, session_id: str) -> dict[str, Any]:
        """Delayed method succeeds (submitting it first if still open): ``async_payment_succeeded``."""
        return self._act(lambda: self.checkout.async_result(session_id, succeeded=True))

    def fail(self, session_id: str) -> dict[str, Any]:
        """Delayed method fails (submitting it first if still open): ``async_payment_failed``."""
        return self._act(lambda: self.checkout.async_result(session_id, succeeded=False))

    def expire(self, session_id: str) -> dict[str, Any]:
        """Expire an open session now, as the timeout would: ``checkout.session.expired``."""
        return self._act(lambda: self.checkout.expire({}, session_id))

    def settle_refund(self, refund_id: str, status: str = "succeeded") -> dict[str, Any]:
        """Finish a pending refund as ``succeeded``/``failed``/``canceled``: ``charge.refund.updated``."""
        return self._act(lambda: self.payments.settle_refund(refund_id, status))

    def set_refund_mode(self, mode: str) -> None:
        """The status every following refund gets: ``succeeded`` (default), ``pending`` or ``failed``."""
        self.payments.set_refund_mode(mode)

    def fail_next(
        self, path_contains: str, status: int = 500, times: int = 1, method: str | None = None
    ) -> None:
        """Inject failures into the next /v1 calls (see ``StripeApi.fail_next``)."""
        self.api.fail_next(path_contains, status, times, method)

    def resend_event(self, event_id: str) -> dict[str, Any]:
        """Deliver an already sent event again, unchanged (Stripe delivers at least once)."""
        with self.lock:
            event = self.event(event_id)
            if not self.webhook_url:
                raise FakeStripeError(400, "No webhook URL configured.")
        return {"events": [_event_ref(event)], "deliveries": [self.webhooks.deliver(event)]}

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.webhooks.deliver(event)

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until events caused by /v1 calls (sent in the background, as Stripe does) are delivered."""
        return self.webhooks.wait(timeout)

    def close(self) -> None:
        self.webhooks.close()

    def _act(self, change: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            try:
                obj = copy.deepcopy(change())
            finally:
                events = self.take_new_events()
        deliveries = [self.webhooks.deliver(event) for event in events] if self.webhook_url else []
        return {"object": obj, "events": [_event_ref(event) for event in events], "deliveries": deliveries}


def _event_ref(event: dict[str, Any]) -> dict[str, str]:
    return {"id": event["id"], "type": event["type"]}
