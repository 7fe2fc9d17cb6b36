"""Reads for the eSIM support page (`/admin/esim-support/`, docs/operations.md "eSIM support")."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch

from providers.iccid import mask_iccid, normalize_iccid
from pulse.models import InstallCodeShown, KnownEsim, OrderAuditEntry, RenewalOrder

MIN_SUFFIX = 4
MAX_CANDIDATES = 20
FULL_ICCID_DIGITS = 18


@dataclass(frozen=True)
class Found:
    """What a search term names: one ICCID, several candidates (last digits), or why nothing."""

    iccid: str = ""
    candidates: list[str] = field(default_factory=list)
    problem: str = ""


def find_esim(term: str) -> Found:
    """An ICCID (spaces and dashes allowed), its last digits (at least 4), or an order id (REN-…)."""
    term = (term or "").strip()
    if not term:
        return Found()
    if term.upper().startswith("REN-"):
        iccid = RenewalOrder.objects.filter(order_id=term.upper()).values_list("iccid", flat=True).first()
        return Found(iccid=iccid) if iccid else Found(problem="No order has that id.")
    if not (set(term) <= set("0123456789 -") and any(ch.isdigit() for ch in term)):
        return Found(problem="Type an ICCID, its last 4 or more digits, or an order id (REN-…).")
    digits = normalize_iccid(term)
    if len(digits) >= FULL_ICCID_DIGITS:
        return Found(iccid=digits)
    if len(digits) < MIN_SUFFIX:
        return Found(problem=f"Type at least the last {MIN_SUFFIX} digits of the ICCID.")
    candidates = sorted(
        set(
            RenewalOrder.objects.filter(iccid__endswith=digits).values_list("iccid", flat=True)[
                :MAX_CANDIDATES
            ]
        )
        | set(
            KnownEsim.objects.filter(iccid__endswith=digits).values_list("iccid", flat=True)[:MAX_CANDIDATES]
        )
    )[:MAX_CANDIDATES]
    if not candidates:
        return Found(problem="No order or known eSIM has an ICCID ending in those digits.")
    if len(candidates) == 1:
        return Found(iccid=candidates[0])
    return Found(candidates=candidates)


def orders_of(iccid: str, limit: int = 20) -> list[RenewalOrder]:
    """The eSIM's orders, newest first, each with its audit trail (and the staff who acted)."""
    trail = OrderAuditEntry.objects.select_related("actor").order_by("at", "pk")
    return list(
        RenewalOrder.objects.filter(iccid=iccid)
        .prefetch_related(Prefetch("audit", queryset=trail))
        .order_by("-created_at")[:limit]
    )


def install_code_trail(iccid: str, limit: int = 10) -> list[InstallCodeShown]:
    return list(
        InstallCodeShown.objects.filter(iccid_masked=mask_iccid(iccid)).order_by("-at", "-pk")[:limit]
    )
