"""``/_control`` JSON API: faults, latency, stats, top-ups and reset, for end-to-end tests and benchmarks.

POST   /_control/faults   {"provider", "mode", "times"?, "delay_s"?, "retry_after"?, "path_contains"? | "paths"?}
GET    /_control/faults   -> {"faults": [...]}
DELETE /_control/faults   (?provider=airhub or {"provider": ...}; all when absent)
GET    /_control/stats    -> {"logins", "requests", "topups", "latency_ms", "faults", "token_ttl_seconds"}
GET    /_control/topups   (?provider=) -> {"topups": [...]}
POST   /_control/reset    fresh dataset, tokens, counters and faults
POST   /_control/latency  {"ms": 100};  GET /_control/latency -> {"ms": ...}
POST   /_control/token-ttl {"seconds": 5}
GET    /_control/wallets  -> {"wallets": {"airhub": "100.00", ...}}
POST   /_control/wallets  {"provider": "travelroam", "balance": "0"}   drain or refill one wallet
"""

from __future__ import annotations

from decimal import InvalidOperation
from typing import TYPE_CHECKING, Any

from providers.sandbox.faults import FaultError
from providers.sandbox.wsgi import BadRequest, Request, Response, Router, json_response

if TYPE_CHECKING:
    from providers.sandbox.world import SandboxWorld


class ControlApp:
    def __init__(self, world: SandboxWorld) -> None:
        self.world = world
        self.router = Router()
        self.router.add("POST", "/faults", self.set_fault)
        self.router.add("GET", "/faults", self.list_faults)
        self.router.add("DELETE", "/faults", self.clear_faults)
        self.router.add("GET", "/stats", self.stats)
        self.router.add("GET", "/topups", self.topups)
        self.router.add("POST", "/reset", self.reset)
        self.router.add("POST", "/latency", self.set_latency)
        self.router.add("GET", "/latency", self.get_latency)
        self.router.add("POST", "/token-ttl", self.set_token_ttl)
        self.router.add("GET", "/wallets", self.get_wallets)
        self.router.add("POST", "/wallets", self.set_wallet)

    def handle(self, request: Request) -> Response:
        match = self.router.match(request.method, request.path)
        if match is None:
            return json_response({"error": f"no control endpoint {request.method} {request.path}"}, 404)
        try:
            return match.route.handler(request, **match.params)
        except (BadRequest, FaultError, TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)

    def set_fault(self, request: Request) -> Response:
        body = request.data()
        paths = body.get("path_contains", body.get("paths"))
        fault = self.world.set_fault(
            str(body.get("provider", "")),
            str(body.get("mode", "")),
            times=_optional_int(body.get("times")),
            delay_s=_optional_float(body.get("delay_s")),
            retry_after=_optional_int(body.get("retry_after")),
            path_contains=paths,
        )
        return json_response({"fault": fault.to_json(), "faults": self.world.faults()}, 201)

    def list_faults(self, request: Request) -> Response:
        return json_response({"faults": self.world.faults()})

    def clear_faults(self, request: Request) -> Response:
        provider = request.query.get("provider") or request.data().get("provider")
        self.world.clear_faults(provider or None)
        return json_response({"faults": self.world.faults()})

    def stats(self, request: Request) -> Response:
        return json_response(self.world.stats())

    def topups(self, request: Request) -> Response:
        return json_response({"topups": self.world.topups(request.query.get("provider") or None)})

    def reset(self, request: Request) -> Response:
        self.world.reset()
        return json_response({"reset": True})

    def set_latency(self, request: Request) -> Response:
        ms = _optional_float(request.data().get("ms"))
        if ms is None:
            raise BadRequest('body must be {"ms": <number>}')
        self.world.set_latency(ms)
        return json_response({"ms": self.world.latency_ms})

    def get_latency(self, request: Request) -> Response:
        return json_response({"ms": self.world.latency_ms})

    def set_token_ttl(self, request: Request) -> Response:
        seconds = _optional_float(request.data().get("seconds"))
        if seconds is None:
            raise BadRequest('body must be {"seconds": <number>}')
        self.world.token_ttl_seconds = seconds
        return json_response({"seconds": seconds})

    def get_wallets(self, request: Request) -> Response:
        return json_response({"wallets": self.world.wallets()})

    def set_wallet(self, request: Request) -> Response:
        body = request.data()
        if body.get("balance") is None:
            raise BadRequest('body must be {"provider": ..., "balance": <number>}')
        try:
            self.world.set_wallet(str(body.get("provider", "")), str(body["balance"]))
        except InvalidOperation as exc:
            raise BadRequest("balance must be a number") from exc
        return json_response({"wallets": self.world.wallets()})


def _optional_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)
