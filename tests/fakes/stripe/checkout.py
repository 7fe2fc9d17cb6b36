"""Checkout Sessions: create / retrieve / line items / expire over the API, and the customer's part
(submit the page, pay, a delayed payment that succeeds or fails) that the control routes play.

Every method runs under the store's lock (the API and the facade take it) and records its Events.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from tests.fakes.stripe.errors import FakeStripeError
from tests.fakes.stripe.params import check_unknown, expand_paths, int_param, metadata
from tests.fakes.stripe.store import ObjectStore
from tests.fakes.stripe.wire import new_id

MIN_EXPIRY_S = 30 * 60
MAX_EXPIRY_S = 24 * 60 * 60
# A client that sends exactly now+30 min loses a little to latency; Stripe's exact slack is undocumented.
EXPIRY_GRACE_S = 5
# Session params we read, plus common ones we accept without modelling. Anything else is rejected like
# Stripe's "Received unknown parameter", which catches typos in the gateway.
SESSION_PARAMS = frozenset((
    "mode", "line_items", "metadata", "payment_intent_data", "customer_email", "client_reference_id",
    "expires_at", "success_url", "cancel_url", "payment_method_types", "expand", "ui_mode",
    "locale", "submit_type", "billing_address_collection", "customer", "allow_promotion_codes",
    "customer_creation", "phone_number_collection", "custom_text",
))  # fmt: skip
PI_DATA_PARAMS = frozenset(
    {"metadata", "description", "statement_descriptor", "statement_descriptor_suffix", "receipt_email"}
)
EXPANDABLE = frozenset({"line_items", "payment_intent"})


def line_item(index: int, raw: Any) -> dict[str, Any]:
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
        "unit_amount": int_param(
            price_data.get("unit_amount"), f"{param}[price_data][unit_amount]", minimum=1
        ),
        "quantity": int_param(raw.get("quantity"), f"{param}[quantity]", minimum=1),
    }


def expires_at(raw: Any, now: int) -> int:
    if raw is None:
        return now + MAX_EXPIRY_S
    value = int_param(raw, "expires_at", minimum=0)
    if value < now + MIN_EXPIRY_S - EXPIRY_GRACE_S:
        message = "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."
        raise FakeStripeError(400, message, param="expires_at")
    if value > now + MAX_EXPIRY_S + EXPIRY_GRACE_S:
        message = "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation."
        raise FakeStripeError(400, message, param="expires_at")
    return value


def line_item_object(item: dict[str, Any]) -> dict[str, Any]:
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


class CheckoutSessions:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # --- the API --------------------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        # Reference: https://docs.stripe.com/api/checkout/sessions/create
        check_unknown(params, SESSION_PARAMS)
        if "mode" not in params:
            raise FakeStripeError(400, "Missing required param: mode.", param="mode")
        if params["mode"] != "payment":
            raise FakeStripeError(400, "This fake supports mode=payment only.", param="mode")
        if params.get("ui_mode", "hosted") != "hosted":
            raise FakeStripeError(400, "This fake supports ui_mode=hosted only.", param="ui_mode")
        raw_items = params.get("line_items")
        if not isinstance(raw_items, list) or not raw_items:
            raise FakeStripeError(400, "Missing required param: line_items.", param="line_items")
        items = [line_item(index, raw) for index, raw in enumerate(raw_items)]
        if len({item["currency"] for item in items}) > 1:
            raise FakeStripeError(400, "All line items must use the same currency.", param="line_items")
        pi_data = params.get("payment_intent_data") or {}
        if not isinstance(pi_data, dict):
            raise FakeStripeError(
                400, "Invalid payment_intent_data: expected an object", param="payment_intent_data"
            )
        check_unknown(pi_data, PI_DATA_PARAMS, "payment_intent_data")
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
            "expires_at": expires_at(params.get("expires_at"), now),
            "livemode": False,
            "metadata": metadata(params.get("metadata"), "metadata"),
            "mode": "payment",
            "payment_intent": None,  # since API 2022-08-01 it only exists once the customer pays
            "payment_method_types": params.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"{self.store.public_base}/pay/{session_id}",
        }
        store = self.store
        # Session metadata is not inherited by the PaymentIntent; only payment_intent_data.metadata is.
        store.pi_metadata[session_id] = metadata(pi_data.get("metadata"), "payment_intent_data[metadata]")
        store.line_items[session_id] = [line_item_object(item) for item in items]
        store.sessions[session_id] = session
        return self.expand(session, params)

    def retrieve(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        return self.expand(self.store.session(session_id), params)

    def list_line_items(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        self.store.session(session_id)
        data = copy.deepcopy(self.store.line_items[session_id])
        url = f"/v1/checkout/sessions/{session_id}/line_items"
        return {"object": "list", "data": data, "has_more": False, "url": url}

    def expire(self, params: dict[str, Any], session_id: str) -> dict[str, Any]:
        session = self.store.session(session_id)
        if session["status"] != "open":
            message = f"Only open Checkout Sessions can be expired; this one is {session['status']}."
            raise FakeStripeError(400, message)
        session.update(status="expired", url=None)
        self.store.emit("checkout.session.expired", session)
        return self.expand(session, params)

    def expand(self, session: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        result = copy.deepcopy(session)
        expand = expand_paths(params)
        if "line_items" in expand:
            result["line_items"] = self.list_line_items({}, session["id"])
        if "payment_intent" in expand and session["payment_intent"]:
            result["payment_intent"] = copy.deepcopy(self.store.payment_intents[session["payment_intent"]])
        return result

    # --- the customer's part --------------------------------------------------------------------------

    def pay(self, session_id: str) -> dict[str, Any]:
        """Card payment: complete + paid, a succeeded PaymentIntent, ``checkout.session.completed``."""
        session = self._session_in(session_id, "open")
        self._complete(session)
        self._capture(session)
        self.store.emit("checkout.session.completed", session)
        return session

    def async_pending(self, session_id: str) -> dict[str, Any]:
        """Delayed method submitted: complete + unpaid, ``checkout.session.completed`` (unpaid)."""
        return self._submit_delayed(self._session_in(session_id, "open"))

    def async_result(self, session_id: str, *, succeeded: bool) -> dict[str, Any]:
        """The delayed method succeeds or fails (submitting it first if still open)."""
        store = self.store
        session = store.session(session_id)
        if session["status"] == "open":
            self._submit_delayed(session)
        intent = store.payment_intents.get(session["payment_intent"] or "")
        if intent is None or intent["status"] != "processing":
            raise FakeStripeError(400, f"Checkout Session {session_id} is not awaiting a delayed payment.")
        if succeeded:
            self._capture(session)
            store.emit("checkout.session.async_payment_succeeded", session)
        else:
            intent["status"] = "requires_payment_method"
            store.emit("checkout.session.async_payment_failed", session)
        return session

    def _session_in(self, session_id: str, status: str) -> dict[str, Any]:
        session = self.store.session(session_id)
        if session["status"] != status:
            raise FakeStripeError(400, f"Checkout Session {session_id} is {session['status']}, not {status}.")
        return session

    def _submit_delayed(self, session: dict[str, Any]) -> dict[str, Any]:
        self._complete(session)
        self.store.emit("checkout.session.completed", session)
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
            "metadata": dict(self.store.pi_metadata[session["id"]]),
            "payment_method_types": list(session["payment_method_types"]),
            "status": "processing",
        }
        self.store.payment_intents[intent["id"]] = intent
        details = {"email": session["customer_email"] or "customer@example.com", "name": "Test Customer"}
        session.update(status="complete", url=None, payment_intent=intent["id"], customer_details=details)

    def _capture(self, session: dict[str, Any]) -> None:
        intent = self.store.payment_intents[session["payment_intent"]]
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=new_id("ch_"))
        session["payment_status"] = "paid"
