"""Request id: honour a sane incoming X-Request-ID, else make one; echo it; expose it to logs."""

from __future__ import annotations

import re
import uuid

from esim_status_checker.logging import request_id_var

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
