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
customers. From a shell: ``python -m providers.sandbox.stripe_fake --help``.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import copy
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

logger = logging.getLogger(__name__)

# The version stripe-python 16.1.0 pins; events carry it the way Stripe stamps an account's pinned version.
API_VERSION = "2026-10-28.endive"
MIN_EXPIRY_S = 30 * 60
MAX_EXPIRY_S = 24 * 60 * 60
# A client that sends exactly now+30 min loses a little to latency; Stripe's exact slack is undocumented.
EXPIRY_GRACE_S = 5
WEBHOOK_TIMEOUT_S = 5
REFUND_MODES = ("succeeded", "pending", "failed")
_COUNTED_REFUND_STATUSES = ("succeeded", "pending", "requires_action")  # failed/canceled give money back
_ALNUM = string.ascii_letters + string.digits
# Session params we read, plus common ones we accept without modelling. Anything else is rejected like
# Stripe's "Received unknown parameter", which catches typos in the gateway.
_SESSION_PARAMS = frozenset((
    "mode", "line_items", "metadata", "payment_intent_data", "customer_email", "client_reference_id",
    "expires_at", "success_url", "cancel_url", "payment_method_types", "expand", "ui_mode",
    "locale", "submit_type", "billing_address_collection", "customer", "allow_promotion_codes",
    "customer_creation", "phone_number_collection", "custom_text",
))  # fmt: skip
_PI_DATA_PARAMS = frozenset(
    {"metadata", "description", "statement_descriptor", "statement_descriptor_suffix", "receipt_email"}
)
_REFUND_PARAMS = frozenset({"payment_intent", "amount", "metadata", "reason", "expand"})
_ID = "([A-Za-z0-9_]+)"
_SESSION_ACTION_RE = re.compile(f"/_test/sessions/{_ID}/(pay|fail|async_pending|async_succeed|expire)")
_API_ROUTES = (  # (method, path pattern, FakeStripe method); the groups are passed after the params
    ("POST", re.compile("/v1/checkout/sessions"), "_create_session"),
    ("GET", re.compile(f"/v1/checkout/sessions/{_ID}"), "_get_session"),
    ("GET", re.compile(f"/v1/checkout/sessions/{_ID}/line_items"), "_get_line_items"),
    ("POST", re.compile(f"/v1/checkout/sessions/{_ID}/expire"), "_expire_session"),
    ("POST", re.compile("/v1/refunds"), "_create_refund"),
    ("GET", re.compile(f"/v1/refunds/{_ID}"), "_get_refund"),
    ("GET", re.compile(f"/v1/payment_intents/{_ID}"), "_get_payment_intent"),
    ("GET", re.compile(f"/v1/events/{_ID}"), "_get_event"),
)


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(24))


def sign_payload(payload: str, secret: str, timestamp: int | None = None) -> str:
    """Build a ``Stripe-Signature`` header: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class FakeStripeError(Exception):
    """An API error, answered with Stripe's envelope ``{"error": {"type", "message", "code", "param"}}``."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", **extra: Any):
        super().__init__(message)
        self.status = status
        fields = {"type": type_, "message": message, **extra}
        self.body = {"error": {k: v for k, v in fields.items() if v is not None}}


def _missing(kind: str, obj_id: str, *, param: str | None = None, status: int = 404) -> FakeStripeError:
    return FakeStripeError(status, f"No such {kind}: '{obj_id}'", code="resource_missing", param=param)


@dataclass
class Reply:
    """One HTTP answer. ``status == 0`` means: drop the connection without answering."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(obj, indent=2).encode(), headers=headers or {})


# --- Stripe's form encoding ----------------------------------------------------------------------------

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_stripe_form(body: str) -> dict[str, Any]:
    """Decode Stripe's bracket notation (``line_items[0][price_data][unit_amount]=1299``) into dicts/lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY_RE.match(key)
        if not match:
            raise FakeStripeError(400, f"Invalid parameter name: {key}")
        parts = [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part or str(len(node)), {})
            if not isinstance(node, dict):
                raise FakeStripeError(400, f"Invalid value for {parts[0]}: mixes a value and an object.")
        last = parts[-1] or str(len(node))
        if isinstance(node.get(last), dict):
            raise FakeStripeError(400, f"Invalid value for {parts[0]}: mixes a value and an object.")
        node[last] = value
    return _listify(root)


def _listify(node: Any, name: str = "") -> Any:
    """Turn ``{"0": a, "1": b}`` into ``[a, b]``, except in metadata where digit keys are just keys."""
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value, key) for key, value in node.items()}
    if name != "metadata" and items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _int(value: Any, param: str, *, minimum: int) -> int:
    if value is None or value == "":
        raise FakeStripeError(400, f"Missing required param: {param}.", param=param)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FakeStripeError(400, f"Invalid integer: {value}", param=param) from None
    if number < minimum:
        raise FakeStripeError(400, f"Invalid {param}: must be at least {minimum}", param=param)
    return number


def _metadata(raw: Any, param: str) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict) or len(raw) > 50:
        raise FakeStripeError(400, f"Invalid {param}: expected an object of at most 50 keys", param=param)
    for key, value in raw.items():
        if not isinstance(value, str) or len(key) > 40 or len(value) > 500:
            raise FakeStripeError(400, f"Invalid {param}[{key}]: strings only (40/500 chars)", param=param)
    return {key: value for key, value in raw.items() if value != ""}  # "" unsets a key in Stripe


def _mask_key(key: str) -> str:
    """``sk_live_****1234``, as Stripe prints keys in errors: never echo a whole key into logs."""
    if len(key) <= 12:
        return "****"
    prefix = key[: key.find("_", key.find("_") + 1) + 1]  # "sk_live_", "rk_test_", or "" for odd keys
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


def _line_item(index: int, raw: Any) -> dict[str, Any]:
    param = f"line_items[{index}]"
    if not isinstance(raw, dict):
        raise FakeStripeError(400, f"Invalid {param}: expected an object", param=param)
    if "price" in raw:
        raise FakeStripeError(
            400, "This fake supports price_data only, not saved prices.", param=f"{param}[price]"
        )
    price_data = raw.get("price_data")
    if not isinstance(price_data, dict):
        raise FakeStripeError(
            400, f"Missing required param: {param}[price_data].", param=f"{param}[price_data]"
        )
    currency = price_data.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
        # Stripe documents currencies as lower-case ISO codes; catching "USD" early avoids surprises.
        raise FakeStripeError(
            400,
            f"Invalid currency: {currency}. Use a lower-case ISO code.",
            param=f"{param}[price_data][currency]",
        )
    product = price_data.get("product_data")
    if not isinstance(product, dict) or not product.get("name"):
        name_param = f"{param}[price_data][product_data][name]"
        raise FakeStripeError(400, f"Missing required param: {name_param}.", param=name_param)
    return {
        "name": product["name"],
        "currency": currency,
        "unit_amount": _int(price_data.get("unit_amount"), f"{param}[price_data][unit_amount]", minimum=1),
        "quantity": _int(raw.get("quantity"), f"{param}[quantity]", minimum=1),
    }


def _expires_at(raw: Any, now: int) -> int:
    if raw is None:
        return now + MAX_EXPIRY_S
    expires_at = _int(raw, "expires_at", minimum=0)
    if expires_at < now + MIN_EXPIRY_S - EXPIRY_GRACE_S:
        message = "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."
        raise FakeStripeError(400, message, param="expires_at")
    if expires_at > now + MAX_EXPIRY_S + EXPIRY_GRACE_S:
        message = "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation."
        raise FakeStripeError(400, message, param="expires_at")
    return expires_at


def _expand_paths(params: Mapping[str, Any]) -> set[str]:
    expand = params.get("expand") or []
    return {expand} if isinstance(expand, str) else set(expand)


def _check_unknown(params: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        name = f"{prefix}[{unknown[0]}]" if prefix else unknown[0]
        raise FakeStripeError(400, f"Received unknown parameter: {name}", param=name)


# --- State ---------------------------------------------------------------------------------------------


class FakeStripe:
    """All fake Stripe state behind one lock; the HTTP handler and the Python shortcuts both call in here.

    Tests may read ``sessions``, ``payment_intents``, ``refunds`` (id -> Stripe object), ``events``,
    ``requests`` (the /v1 request log), ``deliveries`` (webhook attempts) and ``idempotency`` directly.
    Webhooks are never sent while holding the lock: the receiver (our Django app) calls back into this server.
    """

    def __init__(
        self,
        *,
        public_base: str = "",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        api_version: str = API_VERSION,
    ):
        self.lock = threading.RLock()
        self.public_base = public_base
        self.api_version = api_version
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.configure_webhook(webhook_url, webhook_secret)
        self._outbox: collections.deque[dict[str, Any]] = collections.deque()
        self._outbox_cond = threading.Condition()
        self._outbox_pending = 0
        self._worker: threading.Thread | None = None
        self._closed = False
        self.reset()

    def reset(self) -> None:
        """Forget every object, event, request and injected failure; the webhook target is kept."""
        with self._outbox_cond:  # undelivered events of the old state must not reach the next test
            self._outbox_pending -= len(self._outbox)
            self._outbox.clear()
            self._outbox_cond.notify_all()
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
            self._line_items: dict[str, list[dict[str, Any]]] = {}
            self._pi_metadata: dict[str, dict[str, str]] = {}
            self._new_events: list[dict[str, Any]] = []
            self._current_request: dict[str, str | None] = {"id": None, "idempotency_key": None}

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        if url and not secret:
            raise ValueError("a webhook URL needs a signing secret (whsec_...)")
        with self.lock:
            self.webhook_url, self.webhook_secret = url or None, secret

    # --- /v1 API ---------------------------------------------------------------------------------------

    def handle_api(self, method: str, path: str, raw_params: str, headers: Mapping[str, str]) -> Reply:
        """Answer one Stripe API call; ``raw_params`` is the form body (POST) or the query string (GET)."""
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
        with self.lock:
            self.requests.append(entry)
            try:
                reply = self._api(method, path, raw_params, headers, entry)
            except FakeStripeError as exc:  # validation errors are never saved under an idempotency key
                reply = Reply.json(exc.status, exc.body)
            finally:
                self._current_request = {"id": None, "idempotency_key": None}
            reply.headers.setdefault("Request-Id", entry["id"])
            entry["status"] = reply.status
            events, self._new_events = self._new_events, []
        logger.info("fake stripe: %s %s -> %s", method, path, reply.status or "dropped")
        self._enqueue(events)  # Stripe sends API-caused events asynchronously, so do we
        return reply

    def _api(
        self, method: str, path: str, raw: str, headers: Mapping[str, str], entry: dict[str, Any]
    ) -> Reply:
        injected = self._take_failure(method, path)
        if injected is not None:
            entry["injected"] = True
            if injected == 0:
                return Reply(0)
            error = FakeStripeError(injected, "Injected failure (fake Stripe fail_next).", type_="api_error")
            return Reply.json(injected, error.body)
        entry["api_key"] = _mask_key(self._authenticate(headers))
        entry["params"] = params = parse_stripe_form(raw)
        key = entry["idempotency_key"]
        if key is not None:
            replay = self._replay(key, method, path, params)
            if replay is not None:
                entry["replayed"] = True
                return replay
        operation, path_args = self._route(method, path)
        bad_expand = _expand_paths(params) - {"line_items", "payment_intent"}
        if bad_expand:  # checked before the operation runs, so a bad expand changes nothing
            raise FakeStripeError(
                400, f"This property cannot be expanded ({min(bad_expand)}).", param="expand"
            )
        self._current_request = {"id": entry["id"], "idempotency_key": key}
        reply = Reply.json(200, operation(params, *path_args))
        if key is not None:
            self.idempotency[key] = {
                "method": method,
                "path": path,
                "params": params,
                "status": reply.status,
                "body": reply.body,
                "request_id": entry["id"],
            }
        return reply

    def _authenticate(self, headers: Mapping[str, str]) -> str:
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
            raise FakeStripeError(401, f"Invalid API Key provided: {_mask_key(credential)}")
        return credential

    def _replay(self, key: str, method: str, path: str, params: dict[str, Any]) -> Reply | None:
        if len(key) > 255:
            raise FakeStripeError(400, "Idempotency keys can be at most 255 characters long.")
        saved = self.idempotency.get(key)
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

    def _route(self, method: str, path: str) -> tuple[Callable[..., dict[str, Any]], tuple[str, ...]]:
        for route_method, pattern, name in _API_ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return getattr(self, name), match.groups()
        raise FakeStripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _take_failure(self, method: str, path: str) -> int | None:
        for rule in self.failure_rules:
            if rule["path_contains"] in path and rule.get("method") in (None, method):
                rule["times"] -= 1
                if rule["times"] <= 0:
                    self.failure_rules.remove(rule)
                return rule["status"]
        return None

    # --- Checkout Sessions -----------------------------------------------------------------------------

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        # Reference: https://docs.stripe.com/api/checkout/sessions/create
        _check_unknown(params, _SESSION_PARAMS)
        if "mode" not in params:
            raise FakeStripeError(400, "Missing required param: mode.", param="mode")
        if params["mode"] != "payment":
            raise FakeStripeError(400, "This fake supports mode=payment only.", param="mode")
        if params.get("ui_mode", "hosted") != "hosted":
            raise FakeStripeError(400, "This fake supports ui_mode=hosted only.", param="ui_mode")
        raw_items = params.get("line_items")
        if not isinstance(raw_items, list) or not raw_items:
            raise FakeStripeError(400, "Missing required param: line_items.", param="line_items")
        items = [_line_item(index, raw) for index, raw in enumerate(raw_items)]
        if len({item["currency"] for item in items}) > 1:
            raise FakeStripeError(400, "All line items must use the same currency.", param="line_items")
        pi_data = params.get("payment_intent_data") or {}
        if not isinstance(pi_data, dict):
            raise FakeStripeError(
                400, "Invalid payment_intent_data: expected an object", param="payment_intent_data"
            )
        _check_unknown(pi_data, _PI_DATA_PARAMS, "payment_intent_data")
        now = int(time.time())
        session_id = new_id("cs_test_")
        total = sum(item["unit_amount"] * item["quantity"] for item in items)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": items[0]["currency"],
            "customer": None,
            "customer_details": None,  # Stripe fills it in when the customer completes the page
            "customer_email": params.get("customer_email"),
            "expires_at": _expires_at(params.get("expires_at"), now),
            "livemode": False,
            "metadata": _metadata(params.get("metadata"), "metadata"),
            "mode": "payment",
            "payment_intent": None,  # since API 2022-08-01 it only exists once the customer pays
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"{self.public_base}/pay/{session_id}",
        }
        # Session metadata is not inherited by the PaymentIntent; only payment_intent_data.metadata is.
        self._pi_metadata[session_id] = _metadata(pi_data.get("metadata"), "payment_intent_data[metadata]")
        self._line_items[session_id] = [self._line_item_object(item) for item in items]
        self.sessions[session_id] = session
        return self._expand(session, params)

    @staticmethod
    def _line_item_object(item: dict[str, Any]) -> dict[str, Any]:
        amount = item["unit_amount"] * item["quantity"]
        price = {
            "id": new_id("price_"),
            "object": "price",
            "currency": item["currency"],
            "product": new_id("prod_"),
            "type": "one_time",
            "unit_amount": item["unit_amount"],
        }
        return {
            "id": new_id("li_"),
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": amount,
            "amount_tax": 0,
            "amount_total": amount,
            "currency": item["currency"],
            "description": item["name"],
            "price": price,
            "quantity": item["quantity"],
        }

    def _expand(self, session: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        result = copy.deepcopy(session)
        expand = _expand_paths(params)
        if "line_items" in expand:
            result["line_items"] = self._get_line_items({}, session["id"])
        if "payment_intent" in expand and session["payment_intent"]:
            result["payment_intent"] = copy.deepcopy(self.payment_intents[session["payment_intent"]])
        return result

    def _session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise _missing("checkout.session", session_id)
        return session

    def _get_session(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        return self._expand(self._session(session_id), params)

    def _get_line_items(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        self._session(session_id)
        data = copy.deepcopy(self._line_items[session_id])
        url = f"/v1/checkout/sessions/{session_id}/line_items"
        return {"object": "list", "data": data, "has_more": False, "url": url}

    def _expire_session(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        session = self._session(session_id)
        if session["status"] != "open":
            message = f"Only open Checkout Sessions can be expired; this one is {session['status']}."
            raise FakeStripeError(400, message)
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)
        return self._expand(session, params)

    # --- Refunds, PaymentIntents, Events ---------------------------------------------------------------

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        # Reference: https://docs.stripe.com/api/refunds/create
        _check_unknown(params, _REFUND_PARAMS)
        pi_id = params.get("payment_intent")
        if not pi_id:
            raise FakeStripeError(400, "Missing required param: payment_intent.", param="payment_intent")
        intent = self.payment_intents.get(pi_id)
        if intent is None:
            raise _missing("payment_intent", pi_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded":
            raise FakeStripeError(
                400, f"This PaymentIntent ({pi_id}) does not have a successful charge to refund."
            )
        refunded = sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == pi_id and refund["status"] in _COUNTED_REFUND_STATUSES
        )
        remaining = intent["amount_received"] - refunded
        if remaining <= 0:
            message = f"Charge {intent['latest_charge']} has already been refunded."
            raise FakeStripeError(400, message, code="charge_already_refunded")
        amount = remaining if params.get("amount") is None else _int(params["amount"], "amount", minimum=1)
        if amount > remaining:
            message = f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
            raise FakeStripeError(400, message, param="amount")
        refund = {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": intent["latest_charge"],
            "created": int(time.time()),
            "currency": intent["currency"],
            "failure_reason": "expired_or_canceled_card" if self.refund_mode == "failed" else None,
            "metadata": _metadata(params.get("metadata"), "metadata"),
            "payment_intent": pi_id,
            "reason": params.get("reason"),
            "status": self.refund_mode,
        }
        self.refunds[refund["id"]] = refund
        self._emit("refund.created", refund)
        if refund["status"] == "failed":
            # Card refunds can fail after the fact; Stripe reports that with charge.refund.updated.
            self._emit("charge.refund.updated", refund)
        return copy.deepcopy(refund)

    def _get_refund(self, params: dict[str, Any], refund_id: str) -> dict[str, Any]:
        if refund_id not in self.refunds:
            raise _missing("refund", refund_id)
        return copy.deepcopy(self.refunds[refund_id])

    def _get_payment_intent(self, params: dict[str, Any], pi_id: str) -> dict[str, Any]:
        if pi_id not in self.payment_intents:
            raise _missing("payment_intent", pi_id)
        return copy.deepcopy(self.payment_intents[pi_id])

    def _get_event(self, params: dict[str, Any], event_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._event(event_id))

    def _event(self, event_id: str) -> dict[str, Any]:
        for event in self.events:
            if event["id"] == event_id:
                return event
        raise _missing("event", event_id)

    def _emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Record an Event holding a snapshot of ``obj``; the caller decides how it is delivered."""
        event = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": self.api_version,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": dict(self._current_request),  # ids are null for customer-caused events, as in Stripe
            "type": event_type,
        }
        self.events.append(event)
        self._new_events.append(event)
        return event

    # --- The customer's part: test-control operations --------------------------------------------------
    # Each one changes state under the lock, then delivers its events synchronously and reports the
    # receiver's HTTP status, so a test knows the webhook has been handled when the call returns.

    def pay(self, session_id: str) -> dict[str, Any]:
        """Card payment: complete + paid, a succeeded PaymentIntent, ``checkout.session.completed``."""
        return self._control(lambda: self._pay(session_id))

    def async_pending(self, session_id: str) -> dict[str, Any]:
        """Delayed method submitted: complete + unpaid, ``checkout.session.completed`` (unpaid)."""
        return self._control(lambda: self._async_pending(self._session_in(session_id, "open")))

    def async_succeed(self, session_id: str) -> dict[str, Any]:
        """Delayed method succeeds (submitting it first if still open): ``async_payment_succeeded``."""
        return self._control(lambda: self._async_result(session_id, succeeded=True))

    def fail(self, session_id: str) -> dict[str, Any]:
        """Delayed method fails (submitting it first if still open): ``async_payment_failed``."""
        return self._control(lambda: self._async_result(session_id, succeeded=False))

    def expire(self, session_id: str) -> dict[str, Any]:
        """Expire an open session now, as the timeout would: ``checkout.session.expired``."""
        return self._control(lambda: self._expire_session({}, session_id))

    def settle_refund(self, refund_id: str, status: str = "succeeded") -> dict[str, Any]:
        """Finish a pending refund as ``succeeded``/``failed``/``canceled``: ``charge.refund.updated``."""
        return self._control(lambda: self._settle_refund(refund_id, status))

    def set_refund_mode(self, mode: str) -> None:
        """The status every following refund gets: ``succeeded`` (default), ``pending`` or ``failed``."""
        if mode not in REFUND_MODES:
            raise FakeStripeError(400, f"mode must be one of {', '.join(REFUND_MODES)}", param="mode")
        with self.lock:
            self.refund_mode = mode

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
        with self.lock:
            self.failure_rules.append(rule)

    def resend_event(self, event_id: str) -> dict[str, Any]:
        """Deliver an already sent event again, unchanged (Stripe delivers at least once)."""
        with self.lock:
            event = self._event(event_id)
            if not self.webhook_url:
                raise FakeStripeError(400, "No webhook URL configured.")
        return {"events": [_event_ref(event)], "deliveries": [self.deliver(event)]}

    def _control(self, change: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            try:
                obj = copy.deepcopy(change())
            finally:
                events, self._new_events = self._new_events, []
        deliveries = [self.deliver(event) for event in events] if self.webhook_url else []
        return {"object": obj, "events": [_event_ref(event) for event in events], "deliveries": deliveries}

    def _session_in(self, session_id: str, status: str) -> dict[str, Any]:
        session = self._session(session_id)
        if session["status"] != status:
            raise FakeStripeError(400, f"Checkout Session {session_id} is {session['status']}, not {status}.")
        return session

    def _pay(self, session_id: str) -> dict[str, Any]:
        session = self._session_in(session_id, "open")
        self._complete(session)
        self._capture(session)
        self._emit("checkout.session.completed", session)
        return session

    def _async_pending(self, session: dict[str, Any]) -> dict[str, Any]:
        self._complete(session)
        self._emit("checkout.session.completed", session)
        return session

    def _async_result(self, session_id: str, *, succeeded: bool) -> dict[str, Any]:
        session = self._session(session_id)
        if session["status"] == "open":
            self._async_pending(session)
        intent = self.payment_intents.get(session["payment_intent"] or "")
        if intent is None or intent["status"] != "processing":
            raise FakeStripeError(400, f"Checkout Session {session_id} is not awaiting a delayed payment.")
        if succeeded:
            self._capture(session)
            self._emit("checkout.session.async_payment_succeeded", session)
        else:
            intent["status"] = "requires_payment_method"
            self._emit("checkout.session.async_payment_failed", session)
        return session

    def _complete(self, session: dict[str, Any]) -> None:
        """The customer submitted the page: the PaymentIntent appears, still processing."""
        intent = {
            "id": new_id("pi_"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "created": int(time.time()),
            "currency": session["currency"],
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(self._pi_metadata[session["id"]]),
            "payment_method_types": list(session["payment_method_types"]),
            "status": "processing",
        }
        self.payment_intents[intent["id"]] = intent
        details = {"email": session["customer_email"] or "customer@example.com", "name": "Test Customer"}
        session.update(status="complete", url=None, payment_intent=intent["id"], customer_details=details)

    def _capture(self, session: dict[str, Any]) -> None:
        intent = self.payment_intents[session["payment_intent"]]
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=new_id("ch_"))
        session["payment_status"] = "paid"

    def _settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        if refund_id not in self.refunds:
            raise _missing("refund", refund_id)
        refund = self.refunds[refund_id]
        if status not in ("succeeded", "failed", "canceled"):
            raise FakeStripeError(400, "status must be succeeded, failed or canceled", param="status")
        if refund["status"] != "pending":
            raise FakeStripeError(
                400, f"Refund {refund_id} is {refund['status']}; only pending refunds settle."
            )
        refund.update(
            status=status, failure_reason="expired_or_canceled_card" if status == "failed" else None
        )
        self._emit("charge.refund.updated", refund)
        return refund

    # --- Webhook delivery ------------------------------------------------------------------------------

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST one event to the webhook URL, signed like Stripe; returns (and records) the outcome."""
        with self.lock:
            url, secret = self.webhook_url, self.webhook_secret
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
        with self.lock:
            self.deliveries.append(result)
        return result

    def _enqueue(self, events: list[dict[str, Any]]) -> None:
        if not events or not self.webhook_url:
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

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until events caused by /v1 calls (sent in the background, as Stripe does) are delivered."""
        with self._outbox_cond:
            return self._outbox_cond.wait_for(lambda: self._outbox_pending == 0, timeout)

    def close(self) -> None:
        with self._outbox_cond:
            self._closed = True
            self._outbox_cond.notify_all()

    # --- /_test routes and the checkout page -----------------------------------------------------------

    def handle_control(self, method: str, path: str, body: str, *, redirect: bool = False) -> Reply:
        """Answer a ``/_test/...`` route (body: JSON or a form) with JSON. With ``redirect`` (the checkout
        page's forms) a session action answers 303 to the session's ``success_url`` instead."""
        try:
            data = json.loads(body) if body.lstrip().startswith("{") else dict(parse_qsl(body))
            action = _SESSION_ACTION_RE.fullmatch(path)
            if method == "POST" and action:
                session_id, verb = action.groups()
                result = getattr(self, verb)(session_id)
                success_url = result["object"]["success_url"]
                if redirect and success_url:
                    location = success_url.replace("{CHECKOUT_SESSION_ID}", session_id)
                    return Reply(303, headers={"Location": location})
                return Reply.json(200, result)
            answer = self._control_get(path) if method == "GET" else self._control_post(path, data)
            return Reply.json(200, answer)
        except FakeStripeError as exc:
            return Reply.json(exc.status, exc.body)
        except (TypeError, ValueError) as exc:  # bad JSON, {"status": "abc"}, a webhook URL without secret
            return Reply.json(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})

    def _control_get(self, path: str) -> dict[str, Any]:
        with self.lock:
            if path in ("/_test/requests", "/_test/events", "/_test/deliveries"):
                return {"object": "list", "data": copy.deepcopy(getattr(self, path.removeprefix("/_test/")))}
            if path == "/_test/state":
                return copy.deepcopy(
                    {
                        "sessions": self.sessions,
                        "payment_intents": self.payment_intents,
                        "refunds": self.refunds,
                        "refund_mode": self.refund_mode,
                        "failure_rules": self.failure_rules,
                        "webhook_url": self.webhook_url,
                    }
                )
        raise FakeStripeError(404, f"Unknown test route: GET {path}")

    def _control_post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        if path == "/_test/refunds/mode":
            self.set_refund_mode(str(data.get("mode")))
            return {"refund_mode": self.refund_mode}
        if match := re.fullmatch(f"/_test/refunds/{_ID}/settle", path):
            return self.settle_refund(match.group(1), str(data.get("status", "succeeded")))
        if path == "/_test/fail_next":
            status, times = int(data.get("status", 500)), int(data.get("times", 1))
            self.fail_next(str(data.get("path_contains", "")), status, times, data.get("method"))
            return {"failure_rules": copy.deepcopy(self.failure_rules)}
        if match := re.fullmatch(f"/_test/events/{_ID}/resend", path):
            return self.resend_event(match.group(1))
        if path == "/_test/webhook":
            self.configure_webhook(data.get("url"), data.get("secret"))
            return {"webhook_url": self.webhook_url}
        if path == "/_test/reset":
            self.reset()
            return {"reset": True}
        raise FakeStripeError(404, f"Unknown test route: POST {path}")

    def checkout_page(self, session_id: str) -> Reply:
        """The hosted checkout page a person clicks through (``session.url``)."""
        with self.lock:
            session = copy.deepcopy(self.sessions.get(session_id))
            items = copy.deepcopy(self._line_items.get(session_id, []))
        if session is None:
            return Reply(404, b"<h1>No such Checkout Session</h1>", "text/html; charset=utf-8")
        return Reply(200, render_checkout_page(session, items).encode(), "text/html; charset=utf-8")


def _event_ref(event: dict[str, Any]) -> dict[str, str]:
    return {"id": event["id"], "type": event["type"]}


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake Stripe Checkout</title>
<style>body{{font-family:sans-serif;max-width:34rem;margin:3rem auto}} form{{display:inline}}
button,a{{margin-right:.5rem;padding:.4rem 1rem;font-size:1rem}}</style></head>
<body><h1>Fake Stripe Checkout</h1><p>Test mode: nothing is charged. Amounts are in minor units.</p>
<table>{rows}</table>
<p>Total: <strong>{total} {currency}</strong></p>
<p>Session <code>{session_id}</code> is <strong>{status}</strong> ({payment_status}).</p>
{actions}
</body></html>
"""


def render_checkout_page(session: dict[str, Any], items: list[dict[str, Any]]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(item['description'])}</td>"
        f"<td>{item['quantity']} &times; {item['price']['unit_amount']}</td></tr>"
        for item in items
    )
    actions = ""
    if session["status"] == "open":
        base = f"/_test/sessions/{esc(session['id'])}"
        actions = (
            f'<form method="post" action="{base}/pay?redirect=1"><button>Pay</button></form>'
            f'<form method="post" action="{base}/fail?redirect=1"><button>Fail</button></form>'
        )
        if session["cancel_url"]:  # like Stripe's back link: leave the session open and go back
            actions += f'<a href="{esc(session["cancel_url"])}">Cancel</a>'
    return _PAGE.format(
        rows=rows,
        total=session["amount_total"],
        currency=esc(session["currency"].upper()),
        session_id=esc(session["id"]),
        status=esc(session["status"]),
        payment_status=esc(session["payment_status"]),
        actions=actions,
    )


# --- HTTP ----------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests.Session reuses connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.track(self.connection, add=False)
        super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake stripe http: " + format, *args)  # noqa: G003

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        state = self.server.state
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            if url.path.startswith("/v1/"):
                params = body if method == "POST" else url.query
                reply = state.handle_api(method, url.path, params, self.headers)  # type: ignore[arg-type]
            elif url.path.startswith("/_test/"):
                reply = state.handle_control(method, url.path, body, redirect="redirect=1" in url.query)
            elif url.path.startswith("/pay/") and method == "GET":
                reply = state.checkout_page(url.path.removeprefix("/pay/"))
            else:
                error = FakeStripeError(404, f"Unrecognized request URL ({method}: {url.path}).")
                reply = Reply.json(404, error.body)
        except Exception:
            # A bug in the fake must look like a Stripe 500, not like a dropped connection (an "outage").
            logger.exception("fake stripe crashed on %s %s", method, self.path)
            reply = Reply.json(
                500, FakeStripeError(500, "Fake Stripe crashed; see its log.", type_="api_error").body
            )
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.status == 0:  # injected "Stripe unreachable": close without a byte of response
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not keep the process alive

    def __init__(self, address: tuple[str, int], state: FakeStripe):
        super().__init__(address, _Handler)
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            (self._connections.add if add else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Cut kept-alive connections too, or a client could keep talking to a "stopped" server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


_SHORTCUTS = frozenset(
    {
        "pay",
        "fail",
        "async_pending",
        "async_succeed",
        "expire",
        "settle_refund",
        "set_refund_mode",
        "fail_next",
        "resend_event",
        "configure_webhook",
        "wait_for_webhooks",
        "reset",
    }
)


class FakeStripeServer:
    """A running fake: ``base_url`` for ``STRIPE_API_BASE``, ``state`` to inspect, and test shortcuts."""

    def __init__(self, httpd: _Server, base_url: str):
        self.base_url = base_url
        self.state = httpd.state
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-stripe", daemon=True
        )
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        # The test-control shortcuts (pay, fail, expire, settle_refund, fail_next, ...) are FakeStripe's.
        if name in _SHORTCUTS:
            return getattr(self.state, name)
        raise AttributeError(name)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self.state.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeStripeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_fake_stripe(
    host: str = "127.0.0.1",
    port: int = 0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    public_base: str | None = None,
) -> FakeStripeServer:
    """Serve a fresh fake on a daemon thread (``port=0`` picks a free port) and return it running.

    ``public_base`` replaces ``base_url`` in checkout ``url``s, e.g. when bound to 0.0.0.0 in a container.
    """
    state = FakeStripe(webhook_url=webhook_url, webhook_secret=webhook_secret)
    httpd = _Server((host, port), state)
    reachable = "127.0.0.1" if host in ("", "0.0.0.0") else host
    base_url = f"http://{reachable}:{httpd.server_address[1]}"
    state.public_base = (public_base or base_url).rstrip("/")
    return FakeStripeServer(httpd, base_url)


if __name__ == "__main__":
    from providers.sandbox.stripe_fake_cli import main

    main()
