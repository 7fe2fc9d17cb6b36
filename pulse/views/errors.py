"""JSON answers for routes and failures outside any API view."""

import logging

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from pulse.exception_handlers import error_body

logger = logging.getLogger(__name__)


@extend_schema(exclude=True)
class ApiNotFound(APIView):
    """Catch-all under /api/: unknown routes answer a JSON 404 instead of Django's HTML page."""

    def _not_found(self, request, *args, **kwargs):
        raise NotFound(f"No API route matches {request.path}.")

    get = post = put = patch = delete = options = head = _not_found


def server_error(request, *args, **kwargs):
    """handler500: JSON for API paths (the traceback was already logged by Django)."""
    if request.path.startswith("/api/"):
        request_id = getattr(request, "request_id", "-")
        details = f"An unexpected error occurred. Quote request id {request_id} when reporting it."
        return JsonResponse(error_body("Internal server error.", "internal_error", details), status=500)
    from django.views.defaults import server_error as default_server_error

    return default_server_error(request)
