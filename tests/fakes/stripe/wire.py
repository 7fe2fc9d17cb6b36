"""Stripe's wire formats: object ids, the ``Stripe-Signature`` header, form-encoded params, JSON replies."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.stripe.errors import FakeStripeError

_ALNUM = string.ascii_letters + string.digits
_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(24))


def sign_payload(payload: str, secret: str, timestamp: int | None = None) -> str:
    """Build a ``Stripe-Signature`` header: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def mask_key(key: str) -> str:
    """``sk_live_****1234``, as Stripe prints keys in errors: never echo a whole key into logs."""
    if len(key) <= 12:
        return "****"
    prefix = key[: key.find("_", key.find("_") + 1) + 1]  # "sk_live_", "rk_test_", or "" for odd keys
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


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
