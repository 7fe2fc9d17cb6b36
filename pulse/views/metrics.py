"""GET /metrics: Prometheus text format (docs/operations.md, "Metrics").

With DEBUG=False the endpoint is off (404) unless METRICS_TOKEN is set, and then needs
`Authorization: Bearer <METRICS_TOKEN>` (compared in constant time). With DEBUG=True it is open when
no token is set, for a local Prometheus.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from pulse import metrics


@require_GET
def metrics_view(request):
    token = settings.METRICS_TOKEN
    if not token:
        if not settings.DEBUG:
            raise Http404("metrics are off")
    elif not _bearer_matches(request.headers.get("Authorization", ""), token):
        response = HttpResponse("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
