"""Every object the fake Stripe holds, behind one lock, and the Event log every state change writes to."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from tests.fakes.stripe.errors import missing
from tests.fakes.stripe.wire import new_id

# The version stripe-python 16.1.0 pins; events carry it the way Stripe stamps an account's pinned version.
API_VERSION = "2026-10-28.endive"


class ObjectStore:
    """Tests may read ``sessions``, ``payment_intents``, ``refunds`` (id -> Stripe object), ``events``,
    ``requests`` (the /v1 request log), ``deliveries`` (webhook attempts) and ``idempotency`` directly.
    The resources (checkout.py, payments.py) change them under ``lock``; ``emit`` records the Event."""

    def __init__(
        self, *, public_base: str, webhook_url: str | None, webhook_secret: str | None, api_version: str
    ) -> None:
        self.lock = threading.RLock()
        self.public_base = public_base  # where session URLs point (the checkout page)
        self.api_version = api_version
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.configure_webhook(webhook_url, webhook_secret)
        self.clear()

    def clear(self) -> None:
        """Forget every object, event, request and injected failure; the webhook target is kept."""
        with self.lock:
            self.sessions: dict[str, dict[str, Any]] = {}
            self.payment_intents: dict[str, dict[str, Any]] = {}
            self.refunds: dict[str, dict[str, Any]] = {}
            self.events: list[dict[str, Any]] = []
            self.requests: list[dict[str, Any]] = []
            self.deliveries: list[dict[str, Any]] = []
            self.idempotency: dict[str, dict[str, Any]] = {}
            self.refund_mode = "succeeded"
            self.failure_rules: list[dict[str, Any]] = []
            self.line_items: dict[str, list[dict[str, Any]]] = {}  # by session id
            self.pi_metadata: dict[str, dict[str, str]] = {}  # by session id: payment_intent_data[metadata]
            self.new_events: list[dict[str, Any]] = []  # emitted by the change in progress, not yet sent
            self.current_request: dict[str, str | None] = {"id": None, "idempotency_key": None}

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        if url and not secret:
            raise ValueError("a webhook URL needs a signing secret (whsec_...)")
        with self.lock:
            self.webhook_url, self.webhook_secret = url or None, secret

    def session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise missing("checkout.session", session_id)
        return session

    def event(self, event_id: str) -> dict[str, Any]:
        for event in self.events:
            if event["id"] == event_id:
                return event
        raise missing("event", event_id)

    def emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Record an Event holding a snapshot of ``obj``; the caller decides how it is delivered."""
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": dict(self.current_request),  # ids are null for customer-caused events, as in Stripe
            "type": event_type,
        }
        self.events.append(event)
        self.new_events.append(event)
        return event

    def take_new_events(self) -> list[dict[str, Any]]:
        """The events the finished change emitted (under the lock), for delivery after it is released."""
        events, self.new_events = self.new_events, []
        return events
