"""The one map from exceptions to HTTP responses (contract §4, docs/errors.md).

Every API error body is `{"error": <human message>, "code": <stable code>, "details": <string>}`,
plus `"fields": {name: [messages]}` for invalid input. Never a stack trace.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from providers import errors as provider_errors
from pulse import payments
from pulse.exceptions import ApplicationError, InvalidInput, PayloadTooLarge

logger = logging.getLogger(__name__)

# Codes DRF gives every field error; anything else was raised on purpose by our validators
# and names the failure better (e.g. "invalid_iccid").
_GENERIC_FIELD_CODES = {
    "invalid",
    "required",
    "null",
    "blank",
    "max_length",
    "min_length",
    "max_value",
    "min_value",
    "max_digits",
    "max_decimal_places",
    "max_whole_digits",
    "invalid_choice",
    "not_a_list",
    "empty",
    "date",
    "datetime",
    "does_not_exist",
    "max_string_length",
    "null_characters_not_allowed",
    "surrogate_characters_not_allowed",
    "not_a_dict",
}

_DRF_CODES = {
    drf.ParseError: ("malformed_json", "Malformed JSON in the request body."),
    drf.MethodNotAllowed: ("method_not_allowed", None),
    drf.NotAcceptable: ("not_acceptable", None),
    drf.UnsupportedMediaType: ("unsupported_media_type", None),
    drf.NotFound: ("not_found", "Not found."),
    drf.PermissionDenied: ("permission_denied", None),
    drf.NotAuthenticated: ("not_authenticated", None),
    drf.AuthenticationFailed: ("authentication_failed", None),
    drf.Throttled: ("throttled", "Too many requests."),
}

_PROVIDER_STATUS = {
    provider_errors.ProviderNotFound: (404, "esim_not_found", "eSIM not found."),
    provider_errors.ProviderUnavailable: (503, "providers_unavailable", "The eSIM provider is unavailable."),
    provider_errors.ProviderRejected: (502, "provider_rejected", "The eSIM provider rejected the request."),
    provider_errors.ProviderResponseInvalid: (
        502,
        "provider_invalid_response",
        "The eSIM provider sent an answer we could not read.",
    ),
    provider_errors.ProviderNotConfigured: (
        503,
        "provider_not_configured",
        "The eSIM provider is not set up.",
    ),
}


_GATEWAY_STATUS = {
    # 403, not 400: the request is well formed, its credential (the signature) is refused.
    payments.InvalidSignature: (403, "invalid_signature", "Webhook signature verification failed."),
    payments.CheckoutNotFound: (
        404,
        "session_not_found",
        "The payment service does not know this checkout session.",
    ),
    payments.GatewayUnavailable: (
        503,
        "payment_gateway_unavailable",
        "The payment service is unavailable right now.",
    ),
    payments.GatewayRejected: (502, "payment_gateway_rejected", "The payment service refused the request."),
}


def error_body(message: str, code: str, details: str = "", fields: dict | None = None) -> dict:
    body = {"error": message, "code": code, "details": details or ""}
    if fields:
        body["fields"] = fields
    return body


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF EXCEPTION_HANDLER. Always returns a response: unexpected errors become a logged 500."""
    set_rollback()
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, SuspiciousOperation):
        exc = _client_fault(exc)

    if isinstance(exc, ApplicationError):
        return _application_error_response(exc)
    if isinstance(exc, provider_errors.ProviderError):
        return _provider_error_response(exc)
    if isinstance(exc, payments.GatewayError):
        return _gateway_error_response(exc)
    if isinstance(exc, drf.ValidationError):
        return _validation_error_response(exc)
    if isinstance(exc, drf.APIException):
        return _drf_error_response(exc)
    return _unexpected_error_response(exc, context)


def _client_fault(exc: SuspiciousOperation) -> ApplicationError:
    """Django refuses oversized bodies (from Content-Length, before reading) and floods of fields
    with SuspiciousOperation: the client's fault, answered as such and never logged as an error."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return PayloadTooLarge(details=f"The API accepts request bodies of up to {limit} bytes.")
    return InvalidInput("The request was refused.", code="bad_request", details=str(exc)[:300])


def _application_error_response(exc: ApplicationError) -> Response:
    response = Response(error_body(exc.message, exc.code, exc.details, exc.fields), status=exc.status_code)
    if exc.retry_after is not None:
        response["Retry-After"] = str(int(exc.retry_after))
    return response


def _provider_error_response(exc: provider_errors.ProviderError) -> Response:
    status, code, message = next(
        (mapping for error_type, mapping in _PROVIDER_STATUS.items() if isinstance(exc, error_type)),
        (502, "provider_error", "The eSIM provider failed."),
    )
    logger.warning("provider error reached the API: %s (%s)", exc.code, exc.provider)
    response = Response(error_body(message, code, f"{exc.provider}: {exc.message}"), status=status)
    if status == 503:
        response["Retry-After"] = str(math.ceil(exc.retry_after or 30))
    return response


def _gateway_error_response(exc: payments.GatewayError) -> Response:
    status, code, message = next(
        (mapping for error_type, mapping in _GATEWAY_STATUS.items() if isinstance(exc, error_type)),
        (502, "payment_gateway_error", "The payment service failed."),
    )
    logger.warning("payment gateway error reached the API: %s", type(exc).__name__)
    response = Response(error_body(message, code, str(exc)[:300]), status=status)
    if status == 503:
        response["Retry-After"] = "30"
    return response


def _validation_error_response(exc: drf.ValidationError) -> Response:
    fields = _field_messages(exc.detail)
    codes = _flatten_codes(exc.get_codes())
    specific = next((code for code in codes if code not in _GENERIC_FIELD_CODES), None)
    details = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
    if specific:
        first_message = next(iter(fields.values()))[0] if fields else "Invalid input."
        return Response(error_body(first_message, specific, details, fields), status=400)
    return Response(error_body("Invalid input.", "invalid_input", details, fields), status=400)


def _drf_error_response(exc: drf.APIException) -> Response:
    code, message = _DRF_CODES.get(type(exc), (None, None))
    code = code or str(getattr(exc, "default_code", "error"))
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    response = Response(error_body(message or str(detail), code, str(detail)), status=exc.status_code)
    wait = getattr(exc, "wait", None)
    if wait is not None:
        response["Retry-After"] = str(math.ceil(wait))
    if isinstance(exc, drf.MethodNotAllowed):
        response["Allow"] = ", ".join(getattr(exc, "allowed_methods", []) or [])
    return response


def _unexpected_error_response(exc: Exception, context: dict) -> Response:
    request = context.get("request")
    request_id = getattr(request, "request_id", "-")
    view = context.get("view")
    logger.error(
        "unexpected error in %s",
        type(view).__name__ if view else "api",
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    details = f"An unexpected error occurred. Quote request id {request_id} when reporting it."
    return Response(error_body("Internal server error.", "internal_error", details), status=500)


def _field_messages(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        result: dict[str, list[str]] = {}
        for name, value in detail.items():
            result[str(name)] = _message_list(value)
        return result
    return {"non_field_errors": _message_list(detail)}


def _message_list(value) -> list[str]:
    if isinstance(value, list):
        messages: list[str] = []
        for item in value:
            messages.extend(_message_list(item))
        return messages
    if isinstance(value, dict):
        return [f"{key}: {' '.join(_message_list(item))}" for key, item in value.items()]
    return [str(value)]


def _flatten_codes(codes) -> list[str]:
    if isinstance(codes, dict):
        return [code for value in codes.values() for code in _flatten_codes(value)]
    if isinstance(codes, list):
        return [code for value in codes for code in _flatten_codes(value)]
    return [str(codes)]
