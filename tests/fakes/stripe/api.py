"""The ``/v1`` API: the request log, API keys, injected failures, ``Idempotency-Key`` replay and routing to
the resources (checkout.py, payments.py, the Event log). Every call runs under the store's lock; the Events
it caused are sent in the background afterwards, as Stripe sends them."""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.fakes.stripe.checkout import EXPANDABLE, CheckoutSessions
from tests.fakes.stripe.errors import FakeStripeError
from tests.fakes.stripe.params import expand_paths
from tests.fakes.stripe.payments import PaymentsAndRefunds
from tests.fakes.stripe.store import ObjectStore
from tests.fakes.stripe.webhooks import WebhookDelivery
from tests.fakes.stripe.wire import Reply, mask_key, new_id, parse_stripe_form

logger = logging.getLogger(__name__)

ID = "([A-Za-z0-9_]+)"
Operation = Callable[..., dict[str, Any]]


class StripeApi:
    def __init__(
        self,
        store: ObjectStore,
        checkout: CheckoutSessions,
        payments: PaymentsAndRefunds,
        webhooks: WebhookDelivery,
    ) -> None:
        self.store = store
        self.webhooks = webhooks
        # (method, path pattern, operation); the pattern's groups are passed after the params.
        self.routes: tuple[tuple[str, re.Pattern[str], Operation], ...] = (
            ("POST", re.compile("/v1/checkout/sessions"), checkout.create),
            ("GET", re.compile(f"/v1/checkout/sessions/{ID}"), checkout.retrieve),
            ("GET", re.compile(f"/v1/checkout/sessions/{ID}/line_items"), checkout.list_line_items),
            ("POST", re.compile(f"/v1/checkout/sessions/{ID}/expire"), checkout.expire),
            ("POST", re.compile("/v1/refunds"), payments.create_refund),
            ("GET", re.compile(f"/v1/refunds/{ID}"), payments.retrieve_refund),
            ("GET", re.compile(f"/v1/payment_intents/{ID}"), payments.retrieve_payment_intent),
            ("GET", re.compile(f"/v1/events/{ID}"), self._retrieve_event),
        )

    def handle(self, method: str, path: str, raw_params: str, headers: Mapping[str, str]) -> Reply:
        """Answer one Stripe API call; ``raw_params`` is the form body (POST) or the query string (GET)."""
        store = self.store
        key = headers.get("Idempotency-Key") if method == "POST" else None
        entry: dict[str, Any] = {
            "id": new_id("req_"),
            "method": method,
            "path": path,
            "params": None,
            "idempotency_key": key,
            "stripe_version": headers.get("Stripe-Version"),
            "api_key": None,
            "status": None,
            "replayed": False,
            "injected": False,
            "at": time.time(),
        }
        with store.lock:
            store.requests.append(entry)
            try:
                reply = self._answer(method, path, raw_params, headers, entry)
            except FakeStripeError as exc:  # validation errors are never saved under an idempotency key
                reply = Reply.json(exc.status, exc.body)
            finally:
                store.current_request = {"id": None, "idempotency_key": None}
            reply.headers.setdefault("Request-Id", entry["id"])
            entry["status"] = reply.status
            events = store.take_new_events()
        logger.info("fake stripe: %s %s -> %s", method, path, reply.status or "dropped")
        self.webhooks.enqueue(events)  # Stripe sends API-caused events asynchronously, so do we
        return reply

    def _answer(
        self, method: str, path: str, raw: str, headers: Mapping[str, str], entry: dict[str, Any]
    ) -> Reply:
        injected = self._take_failure(method, path)
        if injected is not None:
            entry["injected"] = True
            if injected == 0:
                return Reply(0)
            error = FakeStripeError(injected, "Injected failure (fake Stripe fail_next).", type_="api_error")
            return Reply.json(injected, error.body)
        entry["api_key"] = mask_key(_authenticate(headers))
        entry["params"] = params = parse_stripe_form(raw)
        key = entry["idempotency_key"]
        if key is not None:
            replay = self._replay(key, method, path, params)
            if replay is not None:
                entry["replayed"] = True
                return replay
        operation, path_args = self._route(method, path)
        bad_expand = expand_paths(params) - EXPANDABLE
        if bad_expand:  # checked before the operation runs, so a bad expand changes nothing
            raise FakeStripeError(
                400, f"This property cannot be expanded ({min(bad_expand)}).", param="expand"
            )
        self.store.current_request = {"id": entry["id"], "idempotency_key": key}
        reply = Reply.json(200, operation(params, *path_args))
        if key is not None:
            self.store.idempotency[key] = {
                "method": method,
                "path": path,
                "params": params,
                "status": reply.status,
                "body": reply.body,
                "request_id": entry["id"],
            }
        return reply

    def _replay(self, key: str, method: str, path: str, params: dict[str, Any]) -> Reply | None:
        if len(key) > 255:
            raise FakeStripeError(400, "Idempotency keys can be at most 255 characters long.")
        saved = self.store.idempotency.get(key)
        if saved is None:
            return None
        if (saved["method"], saved["path"], saved["params"]) != (method, path, params):
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request."
            )
            raise FakeStripeError(400, message, type_="idempotency_error")
        replay_headers = {"Idempotent-Replayed": "true", "Original-Request": saved["request_id"]}
        return Reply(saved["status"], saved["body"], headers=replay_headers)

    def _route(self, method: str, path: str) -> tuple[Operation, tuple[str, ...]]:
        for route_method, pattern, operation in self.routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return operation, match.groups()
        raise FakeStripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _retrieve_event(self, params: dict[str, Any], event_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.store.event(event_id))

    # --- failure injection ----------------------------------------------------------------------------

    def fail_next(
        self, path_contains: str, status: int = 500, times: int = 1, method: str | None = None
    ) -> None:
        """Make the next ``times`` /v1 calls whose path contains ``path_contains`` answer ``status``
        with an api_error envelope, or drop the connection when ``status`` is 0 ("Stripe unreachable").
        Injected failures are not saved under idempotency keys: they happen "in front of" Stripe."""
        if status != 0 and not 400 <= status <= 599:
            raise FakeStripeError(400, "status must be 0 (drop the connection) or 400-599", param="status")
        if times < 1:
            raise FakeStripeError(400, "times must be at least 1", param="times")
        rule = {
            "path_contains": path_contains,
            "status": status,
            "times": times,
            "method": method and method.upper(),
        }
        with self.store.lock:
            self.store.failure_rules.append(rule)

    def _take_failure(self, method: str, path: str) -> int | None:
        rules = self.store.failure_rules
        for rule in rules:
            if rule["path_contains"] in path and rule.get("method") in (None, method):
                rule["times"] -= 1
                if rule["times"] <= 0:
                    rules.remove(rule)
                return rule["status"]
        return None


def _authenticate(headers: Mapping[str, str]) -> str:
    scheme, _, credential = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "basic":  # curl -u sk_test_...:
        try:
            credential = base64.b64decode(credential).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            credential = ""
    elif scheme.lower() != "bearer":
        credential = ""
    if not credential:
        message = "You did not provide an API key. Use 'Authorization: Bearer YOUR_SECRET_KEY'."
        raise FakeStripeError(401, message)
    if not credential.startswith(("sk_test_", "rk_test_")):
        raise FakeStripeError(401, f"Invalid API Key provided: {mask_key(credential)}")
    return credential
