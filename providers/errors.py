"""One error taxonomy for every provider client (docs/architecture.md, "Errors").

Clients raise only these. `pulse.exception_handlers` maps them to HTTP in one place, and the
status fan-out turns them into the per-provider `sources` outcome.
"""

from __future__ import annotations

import re
from datetime import datetime


class ProviderError(Exception):
    """A provider call failed. `code` is stable and safe to show; `message` has no secrets."""

    code = "provider_error"
    retryable = False

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


class ProviderNotFound(ProviderError):
    """The provider does not know this ICCID, order or bundle.

    `as_of` is when the data that proves it was read (an index may be older than the lookup).
    """

    code = "not_found"

    def __init__(self, provider: str, message: str, *, as_of: datetime | None = None, **kwargs) -> None:
        super().__init__(provider, message, **kwargs)
        self.as_of = as_of


class ProviderUnavailable(ProviderError):
    """Timeout, connection failure, 5xx or 429: the call may work later."""

    code = "unavailable"
    retryable = True


class ProviderTimeout(ProviderUnavailable):
    """No answer within the timeout. For a top-up the outcome is UNKNOWN: never re-order blindly."""

    code = "timeout"


class ProviderRejected(ProviderError):
    """The provider refused the request (other 4xx, bad credentials, business refusal)."""

    code = "rejected"


class ProviderInsufficientFunds(ProviderRejected):
    """The provider refused a top-up because the reseller's prepaid wallet cannot pay for it.

    A definite refusal (nothing was bought), recognised from each provider's wording by
    `insufficient_funds_or_same`. The sales guard (pulse.services.wallets) pauses that provider's sales.
    """

    code = "insufficient_funds"


class ProviderAuthError(ProviderRejected):
    """Login failed or the credentials were refused even after a fresh login."""

    code = "auth_failed"


class ProviderResponseInvalid(ProviderError):
    """The body is not what the provider documents (not JSON, missing keys, wrong types)."""

    code = "invalid_response"


class ProviderNotConfigured(ProviderError):
    """No credentials for this provider and no sandbox: it is skipped."""

    code = "not_configured"


class CircuitOpen(ProviderUnavailable):
    """The provider failed repeatedly; calls are skipped until the cooldown passes."""

    code = "circuit_open"


# Each provider's wording of "the wallet cannot pay" (providers.md: eSIMCard's verbatim
# "Insufficient Wallet Balance, please refill your wallet and try again"; TravelRoam / eSIM Go's 422
# "Insufficient balance ..." [INFER]; AirHub's wording is unverified, so the common phrasings are
# matched: "insufficient (wallet) balance/funds/credit", "low balance", "not enough balance/credit").
_INSUFFICIENT = re.compile(
    r"insufficient\s+(?:wallet\s+|account\s+)?(?:balance|funds?|credit)"
    r"|(?:wallet|account)\s+balance\s+(?:is\s+)?(?:too\s+low|insufficient|not\s+enough)"
    r"|not\s+enough\s+(?:wallet\s+)?(?:balance|funds|credit)"
    r"|low\s+(?:wallet\s+)?balance"
    r"|please\s+(?:re)?fill\s+your\s+wallet",
    re.IGNORECASE,
)


def means_insufficient_funds(message: object) -> bool:
    """True when a provider's refusal text says the reseller's wallet cannot pay."""
    return isinstance(message, str) and bool(_INSUFFICIENT.search(message))


def insufficient_funds_or_same(error: ProviderRejected) -> ProviderRejected:
    """`error` as ProviderInsufficientFunds when its message is the provider's "wallet empty" wording.

    Only for refusals of a top-up: the wording proves nothing was bought. Auth errors stay as they are.
    """
    if isinstance(error, ProviderInsufficientFunds | ProviderAuthError):
        return error
    if not means_insufficient_funds(error.message):
        return error
    funds = ProviderInsufficientFunds(error.provider, error.message, status_code=error.status_code)
    funds.__cause__ = error
    return funds
