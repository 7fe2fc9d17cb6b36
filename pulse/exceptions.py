"""Domain errors of the service. `pulse.exception_handlers` maps each to HTTP in one place.

Each error carries a stable `code` (clients may switch on it), a human `message` and optional
`details` (always a string: the published frontend crashes on an object).
"""

from __future__ import annotations


class ApplicationError(Exception):
    status_code = 400
    code = "bad_request"
    default_message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: str = "",
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        self.details = details
        if code:
            self.code = code
        self.fields = fields
        self.retry_after = retry_after


class InvalidIccid(ApplicationError):
    code = "invalid_iccid"
    default_message = "Invalid ICCID."


class InvalidInput(ApplicationError):
    code = "invalid_input"
    default_message = "Invalid input."


class UnsupportedCurrency(ApplicationError):
    code = "unsupported_currency"
    default_message = "Unsupported currency."


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class EsimNotFound(NotFound):
    code = "esim_not_found"
    default_message = "eSIM not found."


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class InvalidStateTransition(Conflict):
    code = "invalid_transition"
    default_message = "This action is not allowed in the order's current state."


class PriceChanged(Conflict):
    code = "price_changed"
    default_message = "The price has changed."


class PaymentNotCompleted(Conflict):
    code = "payment_not_completed"
    default_message = "The payment has not been completed."


class UpstreamRejected(ApplicationError):
    status_code = 502
    code = "provider_rejected"
    default_message = "The provider rejected the request."


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "service_unavailable"
    default_message = "Service temporarily unavailable."

    def __init__(self, message: str | None = None, *, retry_after: int | None = 30, **kwargs) -> None:
        super().__init__(message, retry_after=retry_after, **kwargs)


class ProvidersUnavailable(ServiceUnavailable):
    code = "providers_unavailable"
    default_message = "No eSIM provider could answer right now."


class PaymentGatewayUnavailable(ServiceUnavailable):
    code = "payment_gateway_unavailable"
    default_message = "The payment service is unavailable right now."
