"""PaymentIntents (read-only: they appear when a customer pays) and Refunds, with the refund outcome a
test chooses (``refund_mode``) and the later settling of a pending refund. Called under the store's lock."""

from __future__ import annotations

import copy
import time
from typing import Any

from tests.fakes.stripe.errors import FakeStripeError, missing
from tests.fakes.stripe.params import check_unknown, int_param, metadata
from tests.fakes.stripe.store import ObjectStore
from tests.fakes.stripe.wire import new_id

REFUND_MODES = ("succeeded", "pending", "failed")
REFUND_PARAMS = frozenset({"payment_intent", "amount", "metadata", "reason", "expand"})
_COUNTED_REFUND_STATUSES = ("succeeded", "pending", "requires_action")  # failed/canceled give money back


class PaymentsAndRefunds:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # --- the API --------------------------------------------------------------------------------------

    def retrieve_payment_intent(self, params: dict[str, Any], pi_id: str) -> dict[str, Any]:
        if pi_id not in self.store.payment_intents:
            raise missing("payment_intent", pi_id)
        return copy.deepcopy(self.store.payment_intents[pi_id])

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        # Reference: https://docs.stripe.com/api/refunds/create
        check_unknown(params, REFUND_PARAMS)
        store = self.store
        pi_id = params.get("payment_intent")
        if not pi_id:
            raise FakeStripeError(400, "Missing required param: payment_intent.", param="payment_intent")
        intent = store.payment_intents.get(pi_id)
        if intent is None:
            raise missing("payment_intent", pi_id, param="payment_intent", status=400)
        if intent["status"] != "succeeded":
            raise FakeStripeError(
                400, f"This PaymentIntent ({pi_id}) does not have a successful charge to refund."
            )
        refunded = sum(
            refund["amount"]
            for refund in store.refunds.values()
            if refund["payment_intent"] == pi_id and refund["status"] in _COUNTED_REFUND_STATUSES
        )
        remaining = intent["amount_received"] - refunded
        if remaining <= 0:
            message = f"Charge {intent['latest_charge']} has already been refunded."
            raise FakeStripeError(400, message, code="charge_already_refunded")
        amount = (
            remaining if params.get("amount") is None else int_param(params["amount"], "amount", minimum=1)
        )
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
            "failure_reason": "expired_or_canceled_card" if store.refund_mode == "failed" else None,
            "metadata": metadata(params.get("metadata"), "metadata"),
            "payment_intent": pi_id,
            "reason": params.get("reason"),
            "status": store.refund_mode,
        }
        store.refunds[refund["id"]] = refund
        store.emit("refund.created", refund)
        if refund["status"] == "failed":
            # Card refunds can fail after the fact; Stripe reports that with charge.refund.updated.
            store.emit("charge.refund.updated", refund)
        return copy.deepcopy(refund)

    def retrieve_refund(self, params: dict[str, Any], refund_id: str) -> dict[str, Any]:
        if refund_id not in self.store.refunds:
            raise missing("refund", refund_id)
        return copy.deepcopy(self.store.refunds[refund_id])

    # --- test controls --------------------------------------------------------------------------------

    def set_refund_mode(self, mode: str) -> None:
        """The status every following refund gets: ``succeeded`` (default), ``pending`` or ``failed``."""
        if mode not in REFUND_MODES:
            raise FakeStripeError(400, f"mode must be one of {', '.join(REFUND_MODES)}", param="mode")
        with self.store.lock:
            self.store.refund_mode = mode

    def settle_refund(self, refund_id: str, status: str) -> dict[str, Any]:
        """Finish a pending refund as ``succeeded``/``failed``/``canceled``: ``charge.refund.updated``."""
        if refund_id not in self.store.refunds:
            raise missing("refund", refund_id)
        refund = self.store.refunds[refund_id]
        if status not in ("succeeded", "failed", "canceled"):
            raise FakeStripeError(400, "status must be succeeded, failed or canceled", param="status")
        if refund["status"] != "pending":
            raise FakeStripeError(
                400, f"Refund {refund_id} is {refund['status']}; only pending refunds settle."
            )
        refund.update(
            status=status, failure_reason="expired_or_canceled_card" if status == "failed" else None
        )
        self.store.emit("charge.refund.updated", refund)
        return refund
