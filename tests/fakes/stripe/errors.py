"""Stripe's error envelope: ``{"error": {"type", "message", "code", "param"}}`` with the HTTP status."""

from __future__ import annotations

from typing import Any


class FakeStripeError(Exception):
    """An API error, answered with Stripe's envelope ``{"error": {"type", "message", "code", "param"}}``."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", **extra: Any):
        super().__init__(message)
        self.status = status
        fields = {"type": type_, "message": message, **extra}
        self.body = {"error": {k: v for k, v in fields.items() if v is not None}}


def missing(kind: str, obj_id: str, *, param: str | None = None, status: int = 404) -> FakeStripeError:
    return FakeStripeError(status, f"No such {kind}: '{obj_id}'", code="resource_missing", param=param)
