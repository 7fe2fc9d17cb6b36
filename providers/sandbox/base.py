"""Common behaviour of the simulated provider apps: routing, auth hook and each provider's error bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.sandbox.wsgi import BadRequest, Match, Request, Response, Router, json_response

if TYPE_CHECKING:
    from providers.sandbox.world import SandboxWorld


class ProviderApp:
    """One simulated provider. Subclasses register routes and override the error bodies they differ in."""

    name = "provider"

    def __init__(self, world: SandboxWorld, router: Router | None = None) -> None:
        self.world = world
        self.router = router or Router()
        self.register()

    def register(self) -> None:  # pragma: no cover - every provider overrides it
        raise NotImplementedError

    # Called by the world under its lock, after fault handling.
    def dispatch(self, match: Match | None, request: Request) -> Response:
        if match is None:
            if self.router.path_exists(request.path):
                return json_response({"message": "Method Not Allowed"}, 405)
            return self.not_found()
        if match.route.auth:
            denied = self.check_auth(request)
            if denied is not None:
                return denied
        try:
            return match.route.handler(request, **match.params)
        except BadRequest as exc:
            return self.bad_request(str(exc))

    def check_auth(self, request: Request) -> Response | None:
        """None when the request is authorised, else the provider's own rejection."""
        return None

    def auth_error(self) -> Response:
        return json_response({"message": "Unauthenticated."}, 401)

    def status_false(self) -> Response:
        """The provider's "HTTP 200 but the operation failed" body."""
        return json_response({})

    def rejected(self) -> Response:
        """A definite refusal of the request (the eSIM Go style 422 validation failure).

        Not in any provider's "wallet empty" wording: an empty wallet is simulated by the wallets
        themselves (``world.set_wallet``), and would pause sales (pulse.services.wallets)."""
        return json_response({"message": "Order rejected by the provider (sandbox fault)"}, 422)

    def not_found(self) -> Response:
        return json_response({"message": "Not Found"}, 404)

    def bad_request(self, message: str) -> Response:
        return json_response({"message": message}, 400)

    def server_error(self) -> Response:
        return json_response({"message": "Server Error"}, 500)

    def too_many_requests(self, retry_after: int) -> Response:
        return json_response({"message": "Too Many Attempts."}, 429, [("Retry-After", str(retry_after))])
