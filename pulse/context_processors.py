"""Template context for the admin: the providers whose sales are paused (the banner on every page)."""

from __future__ import annotations

import logging

from django.http import HttpRequest

logger = logging.getLogger(__name__)


def sales_pauses(request: HttpRequest) -> dict[str, object]:
    """`sales_pauses`: the paused providers' rows, for staff on admin pages only (one cached read when
    nothing is paused, one query when something is)."""
    user = getattr(request, "user", None)
    match = getattr(request, "resolver_match", None)
    if user is None or not user.is_active or not user.is_staff:
        return {}
    if match is None or "admin" not in match.namespaces:
        return {}
    from pulse.services import wallets

    try:
        if not wallets.paused_providers():
            return {}
        return {"sales_pauses": wallets.paused_rows()}
    except Exception:  # the banner must never break an admin page
        logger.exception("admin banner: could not read the sales pauses")
        return {}
