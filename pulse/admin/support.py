"""The eSIM support page (`/admin/esim-support/?iccid=…`) and "Show install code" (docs/operations.md).

One page per eSIM for staff helping a traveller: the live unified status (a fresh check, no cache),
the eSIM's orders with their audit trails, its usage-alert subscriptions, and, for staff holding the
`pulse.view_install_code` permission, its install code on demand (a CSRF-protected POST). Both
answers carry `Cache-Control: no-store`; the install code is never stored, cached or logged.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from providers.iccid import mask_iccid
from pulse.admin.overview import PROVIDER_LABELS, may_view_orders
from pulse.exceptions import ApplicationError
from pulse.selectors import support as selectors
from pulse.selectors.alerts import subscriptions_for_iccid
from pulse.services.install_code import show_install_code
from pulse.services.status import esim_status_check

INSTALL_CODE_PERMISSION = "pulse.view_install_code"
MAX_TERM = 64
STATUS_FIELDS = (
    ("status", "Status"),
    ("plan_name", "Plan"),
    ("api_provider", "Provider"),
    ("data_capacity", "Data"),
    ("data_consumed", "Used"),
    ("data_remaining", "Remaining"),
    ("validity", "Validity"),
    ("expires_at", "Expires"),
    ("purchase_date", "Purchased"),
    ("profile_status", "Profile"),
    ("country_code", "Country"),
    ("apn", "APN"),
    ("last_updated", "Checked at"),
)


def _context(request: HttpRequest, title: str) -> dict:
    return {
        **admin.site.each_context(request),
        "title": title,
        "may_show_code": request.user.has_perm(INSTALL_CODE_PERMISSION),
        "support_url": reverse("staff-esim-support"),
        "install_code_url": reverse("staff-install-code"),
    }


@never_cache
def esim_support_view(request: HttpRequest) -> HttpResponse:
    if not may_view_orders(request.user):
        raise PermissionDenied
    term = request.GET.get("iccid", "")[:MAX_TERM]
    found = selectors.find_esim(term)
    context = {**_context(request, "eSIM support"), "term": term, "found": found}
    if found.iccid:
        context.update(_esim(found.iccid))
        context["title"] = f"eSIM {mask_iccid(found.iccid)}"
    return TemplateResponse(request, "admin/pulse/esim_support.html", context)


def _esim(iccid: str) -> dict:
    status, status_error = None, ""
    try:
        answer = esim_status_check(iccid=iccid, use_cache=False).answer()
    except ApplicationError as exc:
        status_error = f"{exc.message} {exc.details}".strip()
    else:
        status = {
            "fields": [
                (label, answer.get(key)) for key, label in STATUS_FIELDS if answer.get(key) not in (None, "")
            ],
            "sources": [
                (PROVIDER_LABELS.get(name, name), detail.get("outcome"), detail.get("as_of"))
                for name, detail in answer.get("source_details", {}).items()
            ],
            "bundles": answer.get("bundles") or [],
        }
    return {
        "iccid": iccid,
        "iccid_masked": mask_iccid(iccid),
        "status": status,
        "status_error": status_error,
        "orders": [
            {
                "order": order,
                "url": reverse("admin:pulse_renewalorder_change", args=[order.pk]),
                "provider": PROVIDER_LABELS.get(order.provider, order.provider),
            }
            for order in selectors.orders_of(iccid)
        ],
        "subscriptions": subscriptions_for_iccid(iccid),
        "install_trail": selectors.install_code_trail(iccid),
    }


@never_cache
@require_POST
def install_code_view(request: HttpRequest) -> HttpResponse:
    """POST `iccid`: the install code, shown once. 403 without the dedicated permission."""
    if not request.user.has_perm(INSTALL_CODE_PERMISSION):
        raise PermissionDenied
    raw = request.POST.get("iccid", "")[:MAX_TERM]
    context = _context(request, "eSIM install code")
    try:
        code = show_install_code(raw, user=request.user)
    except ApplicationError as exc:
        context.update({"error": f"{exc.message} {exc.details}".strip(), "term": raw})
        return TemplateResponse(request, "admin/pulse/install_code.html", context, status=exc.status_code)
    context.update(
        {
            "title": f"Install code of eSIM {mask_iccid(code.iccid)}",
            "iccid": code.iccid,
            "iccid_masked": mask_iccid(code.iccid),
            "provider": PROVIDER_LABELS.get(code.provider, code.provider),
            "lpa": code.lpa,
            "apple_link": code.apple_link,
            # segno writes the SVG from the LPA string's bits only: no markup of ours or the provider's.
            "qr_svg": mark_safe(code.qr_svg()),  # noqa: S308
        }
    )
    return TemplateResponse(request, "admin/pulse/install_code.html", context)
