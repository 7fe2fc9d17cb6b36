"""The only provider endpoints a recording may call: reads that cost nothing and change nothing.

The recording transport refuses every other request before it leaves the process, so a bug in the
recorder (or a client method that grew a write) can never place a top-up, buy an eSIM or log out the
account's shared token. `providers/tests/test_recording_allowlist.py` checks this list against what
the clients really send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from providers.base import AIRHUB, ESIMCARD, TRAVELROAM


@dataclass(frozen=True)
class Endpoint:
    """One allowed call. `path` is relative to the provider's base URL; `{id}` is one path segment.

    `match_body=False` for logins: their bodies are credentials, which a replay sends differently.
    """

    method: str
    path: str
    purpose: str
    match_body: bool = True

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.escape(self.path).replace(r"\{id\}", "[^/]+") + "$")

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and bool(self._pattern.match(path))

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


READ_ONLY_ENDPOINTS: dict[str, tuple[Endpoint, ...]] = {
    AIRHUB: (
        Endpoint("POST", "/api/Authentication/UserLogin", "login", match_body=False),
        Endpoint("POST", "/api/ESIM/GetOrderDetail", "order lists (flag 1 and 2)"),
        Endpoint("POST", "/api/ESIM/GetActivationCode", "activation data of an order"),
        Endpoint("POST", "/api/ESIM/GetPlanInformation", "catalogue"),
        Endpoint("POST", "/api/Renew/GetRenewData", "renewal history (read)"),
        Endpoint("POST", "/api/ESIM/GetWallet", "wallet balance"),
    ),
    ESIMCARD: (
        Endpoint("POST", "/login", "login", match_body=False),
        Endpoint("GET", "/my-esims", "eSIM list pages"),
        Endpoint("GET", "/my-esims/{id}", "eSIM details"),
        Endpoint("GET", "/my-sim/{id}/usage", "eSIM usage"),
        Endpoint("GET", "/packages", "catalogue pages"),
        Endpoint("GET", "/pricing", "catalogue prices and countries"),
        Endpoint("GET", "/balance", "wallet balance (the smoke probe and the wallet step)"),
        # A question, not an order: whether the eSIM could take a top-up, asked with the ICCID as
        # `imei` exactly as a top-up would send it (what `imei` means is unverified).
        Endpoint("POST", "/can-topup-esim", "top-up availability (read)"),
    ),
    TRAVELROAM: (
        Endpoint("POST", "/esims/details", "eSIM details"),
        Endpoint("POST", "/esims/applied/bundles", "applied bundles and usage"),
        Endpoint("POST", "/esims/location", "last network seen"),
        Endpoint("POST", "/catalogue", "catalogue pages"),
        Endpoint("GET", "/getesimassignments", "eSIMs of an order (read)"),
        Endpoint("GET", "/organisation", "organisation details: the wallet balance"),
    ),
}

# What the clients can also call, and the reason a recording never does (for the docs and the tests).
NEVER_RECORDED: dict[str, dict[str, str]] = {
    AIRHUB: {"POST /api/Renew/InsertRenew": "places a paid renewal"},
    ESIMCARD: {
        "POST /package/purchase": "buys a package",
        "POST /logout": "revokes the token every worker shares",
    },
    TRAVELROAM: {"POST /processorders": "places a paid order"},
}


def allowed_endpoint(provider: str, method: str, path: str) -> Endpoint | None:
    """The allow-list entry for this request, or None when a recording must refuse it."""
    return next(
        (endpoint for endpoint in READ_ONLY_ENDPOINTS.get(provider, ()) if endpoint.matches(method, path)),
        None,
    )
