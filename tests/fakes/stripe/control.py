"""The ``/_test/...`` control routes: a test (or a person with curl) plays the customer's part (pay, fail,
expire), settles refunds, injects failures, reads the logs and resets. Each answers JSON, and a customer
action reports the webhook deliveries it caused. ``GET /pay/{id}`` serves the checkout page (page.py).

    POST /_test/sessions/{id}/pay|fail|async_pending|async_succeed|expire   [?redirect=1: 303 to success_url]
    POST /_test/refunds/mode {"mode"}       POST /_test/refunds/{id}/settle {"status"}
    POST /_test/fail_next {"path_contains", "status", "times", "method"?}
    POST /_test/events/{id}/resend          POST /_test/webhook {"url", "secret"}      POST /_test/reset
    GET  /_test/requests | events | deliveries | state
"""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from tests.fakes.stripe.api import ID
from tests.fakes.stripe.errors import FakeStripeError
from tests.fakes.stripe.page import render_checkout_page
from tests.fakes.stripe.wire import Reply

if TYPE_CHECKING:
    from tests.fakes.stripe.fake import FakeStripe

_SESSION_ACTION_RE = re.compile(f"/_test/sessions/{ID}/(pay|fail|async_pending|async_succeed|expire)")


class ControlRoutes:
    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake

    def handle(self, method: str, path: str, body: str, *, redirect: bool = False) -> Reply:
        """Answer a ``/_test/...`` route (body: JSON or a form) with JSON. With ``redirect`` (the checkout
        page's forms) a session action answers 303 to the session's ``success_url`` instead."""
        try:
            data = json.loads(body) if body.lstrip().startswith("{") else dict(parse_qsl(body))
            action = _SESSION_ACTION_RE.fullmatch(path)
            if method == "POST" and action:
                session_id, verb = action.groups()
                result = getattr(self.fake, verb)(session_id)
                success_url = result["object"]["success_url"]
                if redirect and success_url:
                    location = success_url.replace("{CHECKOUT_SESSION_ID}", session_id)
                    return Reply(303, headers={"Location": location})
                return Reply.json(200, result)
            answer = self._get(path) if method == "GET" else self._post(path, data)
            return Reply.json(200, answer)
        except FakeStripeError as exc:
            return Reply.json(exc.status, exc.body)
        except (TypeError, ValueError) as exc:  # bad JSON, {"status": "abc"}, a webhook URL without secret
            return Reply.json(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})

    def _get(self, path: str) -> dict[str, Any]:
        fake = self.fake
        with fake.lock:
            if path in ("/_test/requests", "/_test/events", "/_test/deliveries"):
                return {"object": "list", "data": copy.deepcopy(getattr(fake, path.removeprefix("/_test/")))}
            if path == "/_test/state":
                return copy.deepcopy(
                    {
                        "sessions": fake.sessions,
                        "payment_intents": fake.payment_intents,
                        "refunds": fake.refunds,
                        "refund_mode": fake.refund_mode,
                        "failure_rules": fake.failure_rules,
                        "webhook_url": fake.webhook_url,
                    }
                )
        raise FakeStripeError(404, f"Unknown test route: GET {path}")

    def _post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        fake = self.fake
        if path == "/_test/refunds/mode":
            fake.set_refund_mode(str(data.get("mode")))
            return {"refund_mode": fake.refund_mode}
        if match := re.fullmatch(f"/_test/refunds/{ID}/settle", path):
            return fake.settle_refund(match.group(1), str(data.get("status", "succeeded")))
        if path == "/_test/fail_next":
            status, times = int(data.get("status", 500)), int(data.get("times", 1))
            fake.fail_next(str(data.get("path_contains", "")), status, times, data.get("method"))
            return {"failure_rules": copy.deepcopy(fake.failure_rules)}
        if match := re.fullmatch(f"/_test/events/{ID}/resend", path):
            return fake.resend_event(match.group(1))
        if path == "/_test/webhook":
            fake.configure_webhook(data.get("url"), data.get("secret"))
            return {"webhook_url": fake.webhook_url}
        if path == "/_test/reset":
            fake.reset()
            return {"reset": True}
        raise FakeStripeError(404, f"Unknown test route: POST {path}")

    def checkout_page(self, session_id: str) -> Reply:
        """The hosted checkout page a person clicks through (``session.url``)."""
        fake = self.fake
        with fake.lock:
            session = copy.deepcopy(fake.sessions.get(session_id))
            items = copy.deepcopy(fake.line_items.get(session_id, []))
        if session is None:
            return Reply(404, b"<h1>No such Checkout Session</h1>", "text/html; charset=utf-8")
        return Reply(200, render_checkout_page(session, items).encode(), "text/html; charset=utf-8")
