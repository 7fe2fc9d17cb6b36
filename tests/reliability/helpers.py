"""Shared pieces of the reliability tests: demo ICCIDs by owner, fault settings, timing, invariants.

The status checks here run the real provider clients against the HTTP simulators on 127.0.0.1
(`pulse.tests.http_sandbox_helpers.http_sandbox`), with timeouts short enough that the matrix runs in
seconds, in the production order (PROVIDER_TIMEOUT < STATUS_DEADLINE), and long enough that a HEALTHY
simulator answers inside them even on a loaded CI machine (at 0.5 s, stalls of a busy 2-CPU box made
healthy providers time out now and then).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from django.test import override_settings
from rest_framework.test import APIClient

from pulse.models import OrderStatus, RenewalOrder
from pulse.tests.http_sandbox_helpers import http_sandbox

PROVIDERS = ("airhub", "esimcard", "travelroam")

# One eSIM known to exactly one provider each (providers/sandbox/README.md, "Demo ICCIDs").
OWNED_BY = {
    "airhub": "8944000000000000100",
    "esimcard": "8944000000000000209",
    "travelroam": "8944000000000000308",
}
# For a fault at provider X: an eSIM that only another provider knows.
OWNED_BY_ANOTHER = {
    "airhub": OWNED_BY["esimcard"],
    "esimcard": OWNED_BY["airhub"],
    "travelroam": OWNED_BY["airhub"],
}
OWNER_OF = {iccid: provider for provider, iccid in OWNED_BY.items()}
SEED_ICCID = "8932042000010245583"  # TravelRoam, the README's Turkey 1GB/7D bundle

PROVIDER_TIMEOUT = 1.0
STATUS_DEADLINE = 2.0
# A behavioural bound, not a benchmark: "answers within the deadline", with room for a slow CI box.
DEADLINE_MARGIN = 2.0
ANSWER_BOUND = STATUS_DEADLINE + DEADLINE_MARGIN

FAST_FAILURE_SETTINGS: dict[str, Any] = {
    "PROVIDER_TIMEOUT": PROVIDER_TIMEOUT,
    "PROVIDER_CONNECT_TIMEOUT": PROVIDER_TIMEOUT,
    "STATUS_DEADLINE": STATUS_DEADLINE,
    # Once the owner has answered, the healthy others get this long: as long as a call may take.
    "STATUS_GRACE_SECONDS": PROVIDER_TIMEOUT,
    "STATUS_CACHE_SECONDS": 0,
    "STATUS_NOT_FOUND_CACHE_SECONDS": 0,
    # Breakers would turn repeated failures into error:circuit_open; tests that want them set it.
    "PROVIDER_BREAKER_THRESHOLD": 10_000,
}

PAID_END_STATES = frozenset({OrderStatus.COMPLETED, OrderStatus.REFUNDED, OrderStatus.MANUAL_REVIEW})


@contextlib.contextmanager
def simulators_over_http(**overrides: Any) -> Iterator[tuple[Any, str]]:
    """(world, base_url): the three providers as a real HTTP server, short timeouts, no caching."""
    with http_sandbox() as (world, base_url), override_settings(**{**FAST_FAILURE_SETTINGS, **overrides}):
        yield world, base_url


def timed_check(iccid: str, client: APIClient | None = None, **extra: Any) -> tuple[Any, float]:
    """POST /api/esim/check/ and the wall time it took, in seconds."""
    client = client or APIClient()
    started = time.monotonic()
    response = client.post("/api/esim/check/", {"iccid": iccid}, format="json", **extra)
    return response, time.monotonic() - started


def assert_paid_orders_settled(world) -> None:
    """The renewal invariant: every paid order is COMPLETED, REFUNDED or MANUAL_REVIEW, and has at most
    one provider top-up (a refunded order has none; a completed one has exactly its own)."""
    paid = list(RenewalOrder.objects.filter(paid_at__isnull=False))
    assert paid, "the scenario paid no order"
    stuck = {order.order_id: order.status for order in paid if order.status not in PAID_END_STATES}
    assert not stuck, f"paid orders left in limbo: {stuck}"
    topups = world.topups()
    references = [topup["reference"] for topup in topups]
    assert len(references) == len(set(references)), f"a top-up reference repeats: {references}"
    for order in paid:
        at_provider = [t for t in topups if t["iccid"] == order.iccid]
        if order.status == OrderStatus.COMPLETED:
            assert [t["reference"] for t in at_provider] == [order.provider_reference], order.order_id
        elif order.status == OrderStatus.REFUNDED:
            assert at_provider == [], f"{order.order_id} was refunded but topped up: {at_provider}"
        else:
            assert len(at_provider) <= 1, f"{order.order_id} has {len(at_provider)} top-ups"
