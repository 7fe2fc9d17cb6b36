"""The eSIM install code on demand, for staff helping a traveller (docs/operations.md, "eSIM support").

"Show install code" asks the provider that holds the eSIM for its activation data at that moment (a
lookup with the stored reference and `install_code=True`: no status cache, and no provider client
keeps the activation code or matching id in a cache, providers.base.ProviderClient.lookup) and hands back the LPA string
(`LPA:1$<SM-DP+ address>$<matching id>`); the caller shows it once. Anyone holding the code can install
the eSIM, so:
- only staff with the `pulse.view_install_code` permission get here (the view checks);
- every request is written to the audit trail (`InstallCodeShown`: who, when, which eSIM, masked),
  whether a code came back or not;
- the code is never stored, cached or logged by this module (log lines name the masked ICCID only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

from providers.base import EsimRecord
from providers.errors import ProviderError, ProviderNotFound
from providers.iccid import mask_iccid
from pulse.exceptions import ServiceUnavailable
from pulse.models import InstallCodeShown, KnownEsim, RenewalOrder
from pulse.services.providers import enabled_clients
from pulse.services.status import clean_iccid

logger = logging.getLogger(__name__)

APPLE_INSTALL_URL = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="


class InstallCodeUnavailable(ServiceUnavailable):
    code = "install_code_unavailable"
    default_message = "The provider gave no install code for this eSIM."


@dataclass(frozen=True)
class InstallCode:
    iccid: str
    provider: str
    lpa: str

    @property
    def apple_link(self) -> str:
        """Apple's one-tap install link: the LPA string URL-encoded in `carddata`."""
        return APPLE_INSTALL_URL + quote(self.lpa, safe="")

    def qr_svg(self) -> str:
        """The LPA string as a QR code, an inline SVG (segno)."""
        import segno

        return segno.make(self.lpa, error="m", micro=False).svg_inline(
            scale=5, border=2, title="eSIM install code"
        )


def where_is(iccid: str) -> list[tuple[str, str]]:
    """(provider, reference) pairs that know the eSIM: found by status checks, else from its orders."""
    known = list(KnownEsim.objects.filter(iccid=iccid).values_list("provider", "reference"))
    seen = {provider for provider, _ in known}
    ordered = (
        RenewalOrder.objects.filter(iccid=iccid)
        .exclude(provider__in=seen)
        .order_by("-created_at")
        .values_list("provider", "esim_reference")
    )
    for provider, reference in ordered:
        if provider not in seen:
            known.append((provider, reference))
            seen.add(provider)
    return known


def show_install_code(raw_iccid: object, *, user) -> InstallCode:
    """The eSIM's install code from its provider, now; audited. Raises InvalidIccid or
    InstallCodeUnavailable (also audited)."""
    iccid = clean_iccid(raw_iccid)
    masked = mask_iccid(iccid)
    clients = enabled_clients()
    places = [(provider, reference) for provider, reference in where_is(iccid) if provider in clients]
    reasons = []
    for provider, reference in places:
        try:
            record = clients[provider].lookup(iccid, reference=reference or None, install_code=True)
        except ProviderNotFound:
            reasons.append(f"{provider}: not found")
            continue
        except ProviderError as exc:
            reasons.append(f"{provider}: {exc.code}")
            continue
        lpa = _lpa(record)
        if lpa:
            _audit(user, masked, provider, InstallCodeShown.Outcome.SHOWN)
            logger.info(
                "install code of %s shown to %s (from %s)",
                masked,
                user.get_username(),
                provider,
                extra={"iccid": masked, "provider": provider},
            )
            return InstallCode(iccid=iccid, provider=provider, lpa=lpa)
        reasons.append(f"{provider}: no activation data")
    detail = "; ".join(reasons) if reasons else "no provider is known to hold this eSIM (run a status check)"
    _audit(user, masked, places[0][0] if places else "", InstallCodeShown.Outcome.UNAVAILABLE, detail)
    logger.warning("install code of %s not available: %s", masked, detail, extra={"iccid": masked})
    raise InstallCodeUnavailable(details=detail)


def _lpa(record: EsimRecord) -> str | None:
    if record.activation_code and record.activation_code.upper().startswith("LPA:"):
        return record.activation_code
    if record.smdp_address and record.matching_id:
        return f"LPA:1${record.smdp_address}${record.matching_id}"
    return None


def _audit(user, masked: str, provider: str, outcome: str, detail: str = "") -> None:
    InstallCodeShown.objects.create(
        actor=user,
        actor_username=user.get_username(),
        iccid_masked=masked,
        provider=provider,
        outcome=outcome,
        detail=detail[:255],
    )
