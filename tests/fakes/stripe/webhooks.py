"""Webhook delivery: each Event POSTed to the configured URL, signed like Stripe, and the outcome recorded.

Events caused by /v1 calls go out from a background thread (as Stripe sends them asynchronously); events a
test control causes are delivered synchronously by the caller, so the test knows they were handled. Never
deliver while holding the store's lock: the receiver (our Django app) calls back into the fake.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from typing import Any

import requests

from tests.fakes.stripe.store import ObjectStore
from tests.fakes.stripe.wire import sign_payload

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5


class WebhookDelivery:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._outbox: collections.deque[dict[str, Any]] = collections.deque()
        self._outbox_cond = threading.Condition()
        self._outbox_pending = 0
        self._worker: threading.Thread | None = None
        self._closed = False

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST one event to the webhook URL, signed like Stripe; returns (and records) the outcome."""
        with self.store.lock:
            url, secret = self.store.webhook_url, self.store.webhook_secret
        result: dict[str, Any] = {"event_id": event["id"], "type": event["type"], "url": url}
        result.update(status=None, error=None)
        if url and secret:
            payload = json.dumps(event, indent=2)
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign_payload(payload, secret),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            }
            try:
                response = requests.post(
                    url, data=payload.encode(), headers=headers, timeout=WEBHOOK_TIMEOUT_S
                )
                result["status"] = response.status_code
            except requests.RequestException as exc:
                result["error"] = f"{type(exc).__name__}: {exc}"
        logger.info("fake stripe: webhook %s %s -> %s", event["type"], event["id"], result["status"])
        with self.store.lock:
            self.store.deliveries.append(result)
        return result

    def enqueue(self, events: list[dict[str, Any]]) -> None:
        """Deliver ``events`` in the background, in order."""
        if not events or not self.store.webhook_url:
            return
        with self._outbox_cond:
            self._outbox.extend(events)
            self._outbox_pending += len(events)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._drain_outbox, name="fake-stripe-webhooks", daemon=True
                )
                self._worker.start()
            self._outbox_cond.notify_all()

    def _drain_outbox(self) -> None:
        while True:
            with self._outbox_cond:
                self._outbox_cond.wait_for(lambda: self._outbox or self._closed)
                if self._closed:
                    return
                event = self._outbox.popleft()
            try:
                self.deliver(event)
            finally:
                with self._outbox_cond:
                    self._outbox_pending -= 1
                    self._outbox_cond.notify_all()

    def discard_pending(self) -> None:
        """Drop undelivered events (a reset: the old state's events must not reach the next test)."""
        with self._outbox_cond:
            self._outbox_pending -= len(self._outbox)
            self._outbox.clear()
            self._outbox_cond.notify_all()

    def wait(self, timeout: float = 5.0) -> bool:
        """Wait until the events sent in the background are delivered."""
        with self._outbox_cond:
            return self._outbox_cond.wait_for(lambda: self._outbox_pending == 0, timeout)

    def close(self) -> None:
        with self._outbox_cond:
            self._closed = True
            self._outbox_cond.notify_all()
