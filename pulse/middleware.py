"""Request id: honour a sane incoming X-Request-ID, else make one; echo it; expose it to logs.
NUL guard: a NUL character in the path or query string never reaches a view or the database."""

from __future__ import annotations

import re
import uuid

from django.http import HttpResponse, JsonResponse

from esim_status_checker.logging import request_id_var
from pulse.exception_handlers import error_body

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
HEADER = "X-Request-ID"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Not reset afterwards on purpose: Django logs 4xx/5xx responses ("django.request")
        # after the middleware chain returns, and those lines must carry the id too. Every
        # request sets its own id first, so nothing stale survives into the next one.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


class NulByteGuardMiddleware:
    """Refuse NUL characters in the path (404) and the query string (400) before any view runs.

    PostgreSQL text cannot hold NUL: a lookup with one (`/renewal/order/REN-%00ABC/`, an admin
    filter `?status__exact=%00`) raises DataError, a 500 with a traceback for a client's typo or
    probe. No id, code or filter of ours ever contains NUL, so nothing legitimate is refused.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            return _refusal(request, 404, "not_found", "Not found.", "The path contains a NUL character.")
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            return _refusal(
                request, 400, "invalid_input", "Invalid input.", "The query string contains a NUL character."
            )
        return self.get_response(request)


def _refusal(request, status: int, code: str, message: str, details: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(message, code, details), status=status)
    return HttpResponse(details, status=status, content_type="text/plain; charset=utf-8")
