"""The demo eSIMs behind the documented ICCIDs (README), one per interesting case.

Dates of "current" plans are relative to the world's creation time, so a demo eSIM is always mid-plan; the
historic TravelRoam Turkey eSIM keeps the fixed dates of the original README example (2025-11-02).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from providers.sandbox.catalogues import stable_uuid
from providers.sandbox.models import GB, AirHubOrder, CardPackage, CardSim
from providers.sandbox.travelroam_models import TrAssignment, TrEsim

if TYPE_CHECKING:
    from providers.sandbox.dataset import Dataset

# The demo ICCIDs listed in the README; all 19 digits and Luhn-valid.
DEMO_ICCIDS = {
    "travelroam_expired_turkey": "8932042000010245583",
    "airhub_active_spain": "8944000000000000100",
    "esimcard_partial_france": "8944000000000000209",
    "travelroam_depleted_germany": "8944000000000000308",
    "esimcard_unlimited_italy": "8944000000000000407",
    "airhub_and_travelroam_greece": "8944000000000000506",
    "unknown_everywhere": "8944000000000000605",
    "airhub_old_order_turkey": "8944000000000000704",
    "travelroam_queued_spain": "8944000000000000803",
    "esimcard_revoked_france": "8944000000000000902",
    # Usage alerts (docs/alerts.md): one about 85 % used, one whose plan ends tomorrow.
    "travelroam_85pct_portugal": "8944000000000001009",
    "travelroam_ending_netherlands": "8944000000000001108",
}


def add_airhub_orders(data: Dataset, now: datetime) -> None:
    plans = data.airhub_plans
    spain = AirHubOrder(
        order_id="4100100",
        iccid=DEMO_ICCIDS["airhub_active_spain"],
        plan=plans["AH-ES-3GB-15D"],
        purchased_at=now - timedelta(days=3),
        is_active=True,
        consumed_bytes=1_250_000_000,
        matching_id="SBX00-DEMO0-SPAIN-00002",
    )
    # AirHub resells this TravelRoam eSIM: same profile (LPA), but AirHub shows no usage.
    greece = AirHubOrder(
        order_id="4100506",
        iccid=DEMO_ICCIDS["airhub_and_travelroam_greece"],
        plan=plans["AH-GR-2GB-10D"],
        purchased_at=now - timedelta(days=4),
        is_active=True,
        consumed_bytes=None,
        matching_id="SBX00-DEMO0-GREEC-00006",
        smdp="rsp-3104.idemia.io",
    )
    # Older than every filler order, so it falls outside flag=1's "last 300 orders".
    old_turkey = AirHubOrder(
        order_id="3900704",
        iccid=DEMO_ICCIDS["airhub_old_order_turkey"],
        plan=plans["AH-TR-1GB-7D"],
        purchased_at=now - timedelta(days=120),
        is_active=False,
        consumed_bytes=None,
        matching_id="SBX00-DEMO0-TURKY-00008",
    )
    for order in (spain, greece, old_turkey):
        data.add_airhub_order(order)


def _card_sim(key: str, created: datetime, status: str, package: CardPackage) -> CardSim:
    return CardSim(
        id=stable_uuid(f"esimcard-sim:{key}"),
        iccid=DEMO_ICCIDS[key],
        created_at=created,
        status=status,
        matching_id=f"SBX00-DEMO0-CARD0-{DEMO_ICCIDS[key][-5:]}",
        packages=[package],
    )


def _card_package(
    data: Dataset,
    key: str,
    name: str,
    *,
    initial: int | None,
    remaining: int | None,
    created: datetime,
    bucket: str = "in_use",
) -> CardPackage:
    package_type = next(item for item in data.card_packages.values() if item.name == name)
    activated = created + timedelta(hours=6)
    return CardPackage(
        id=stable_uuid(f"esimcard-package-instance:{key}"),
        package_type_id=package_type.id,
        name=name,
        initial_bytes=initial,
        remaining_bytes=remaining,
        data_unit=package_type.data_unit,
        created_at=created,
        activated_at=activated,
        expires_at=activated + timedelta(days=package_type.validity_days),
        bucket=bucket,
    )


def add_card_sims(data: Dataset, now: datetime) -> None:
    france_created = now - timedelta(days=10)
    france = _card_package(
        data,
        "esimcard_partial_france",
        "eSIM, 5GB, 30 Days, France, Unthrottled",
        initial=5 * GB,
        remaining=3 * GB,
        created=france_created,
    )
    italy_created = now - timedelta(days=2, hours=6)
    italy = _card_package(
        data,
        "esimcard_unlimited_italy",
        "eSIM, Unlimited, 7 Days, Italy",
        initial=None,
        remaining=None,
        created=italy_created,
    )
    revoked_created = now - timedelta(days=60)
    revoked = _card_package(
        data,
        "esimcard_revoked_france",
        "eSIM, 1GB, 30 Days, France, Unthrottled",
        initial=GB,
        remaining=GB // 2,
        created=revoked_created,
        bucket="revoked",
    )
    data.add_card_sim(_card_sim("esimcard_partial_france", france_created, "Installed", france))
    data.add_card_sim(_card_sim("esimcard_unlimited_italy", italy_created, "Installed", italy))
    data.add_card_sim(_card_sim("esimcard_revoked_france", revoked_created, "Revoked", revoked))


def _assignment(
    data: Dataset,
    bundle_name: str,
    *,
    key: str,
    remaining: int,
    assigned: datetime,
    start: datetime | None,
    state: str,
    number: int,
) -> TrAssignment:
    bundle = data.tr_bundles[bundle_name]
    return TrAssignment(
        id=str(number),
        reference=f"{stable_uuid(f'travelroam-assignment:{key}')}-0",
        bundle_name=bundle.name,
        description=bundle.description,
        initial_bytes=bundle.data_bytes,
        remaining_bytes=remaining,
        assigned_at=assigned,
        start_at=start,
        end_at=start + timedelta(days=bundle.duration) if start else None,
        state=state,
        unlimited=bundle.unlimited,
    )


def _location(network: str, brand: str, country: str, code: str, seen: datetime) -> dict[str, str]:
    return {
        "mobileNetworkCode": code,
        "networkName": network,
        "networkBrandName": brand,
        "country": country,
        "lastSeen": seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def add_tr_esims(data: Dataset, now: datetime) -> None:
    turkey_start = datetime(2025, 11, 2, 1, 1, tzinfo=UTC)
    turkey = TrEsim(
        iccid=DEMO_ICCIDS["travelroam_expired_turkey"],
        matching_id="SBX00-DEMO0-TURKY-00001",
        profile_status="Installed",
        first_installed_ms=1762045260000,
        location=_location(
            "AveaIletisim Hizmetleri A.S.",
            "Turk Telekom",
            "TR",
            "28603",
            datetime(2025, 11, 3, 10, 0, tzinfo=UTC),
        ),
        assignments=[
            _assignment(
                data,
                "esim_1GB_7D_TR_V2",
                key="turkey",
                remaining=0,
                number=215009266,
                assigned=turkey_start - timedelta(minutes=1),
                start=turkey_start,
                state="expired",
            )
        ],
    )
    germany_start = now - timedelta(days=2)
    germany = TrEsim(
        iccid=DEMO_ICCIDS["travelroam_depleted_germany"],
        matching_id="SBX00-DEMO0-GERMN-00004",
        profile_status="Installed",
        first_installed_ms=int(germany_start.timestamp() * 1000),
        location=_location("Telekom Deutschland GmbH", "Telekom.de", "DE", "26201", now - timedelta(hours=3)),
        assignments=[
            _assignment(
                data,
                "esim_1GB_7D_DE_V2",
                key="germany",
                remaining=0,
                number=215009300,
                assigned=germany_start,
                start=germany_start,
                state="depleted",
            )
        ],
    )
    greece_start = now - timedelta(days=2)
    greece = TrEsim(
        iccid=DEMO_ICCIDS["airhub_and_travelroam_greece"],
        matching_id="SBX00-DEMO0-GREEC-00006",
        profile_status="Installed",
        first_installed_ms=int(greece_start.timestamp() * 1000),
        location=_location("Cosmote Mobile Telecommunications S.A.", "Cosmote", "GR", "20201", now),
        assignments=[
            _assignment(
                data,
                "esim_2GB_10D_GR_V2",
                key="greece",
                remaining=1_500_000_000,
                number=215009301,
                assigned=greece_start,
                start=greece_start,
                state="active",
            )
        ],
    )
    queued_bundle = data.tr_bundles["esim_3GB_15D_ES_V2"]
    queued = TrEsim(
        iccid=DEMO_ICCIDS["travelroam_queued_spain"],
        matching_id="SBX00-DEMO0-SPAIN-00009",
        profile_status="Released",
        assignments=[
            _assignment(
                data,
                queued_bundle.name,
                key="queued",
                remaining=queued_bundle.data_bytes,
                number=215009302,
                assigned=now - timedelta(days=1),
                start=None,
                state="queued",
            )
        ],
    )
    for esim in (turkey, germany, greece, queued, *_alert_demos(data, now)):
        data.add_tr_esim(esim)


def _alert_demos(data: Dataset, now: datetime) -> list[TrEsim]:
    """Two eSIMs mid-plan near a usage-alert threshold: 85 % of 3 GB used, and 1 GB ending tomorrow."""
    portugal_start = now - timedelta(days=5)
    portugal = TrEsim(
        iccid=DEMO_ICCIDS["travelroam_85pct_portugal"],
        matching_id="SBX00-DEMO0-PORTU-00010",
        profile_status="Installed",
        first_installed_ms=int(portugal_start.timestamp() * 1000),
        location=_location("MEO - Servicos de Comunicacoes", "MEO", "PT", "26806", now - timedelta(hours=1)),
        assignments=[
            _assignment(
                data,
                "esim_3GB_15D_PT_V2",
                key="portugal",
                remaining=450_000_000,
                number=215009310,
                assigned=portugal_start,
                start=portugal_start,
                state="active",
            )
        ],
    )
    netherlands_start = now - timedelta(days=6)
    netherlands = TrEsim(
        iccid=DEMO_ICCIDS["travelroam_ending_netherlands"],
        matching_id="SBX00-DEMO0-NETHR-00011",
        profile_status="Installed",
        first_installed_ms=int(netherlands_start.timestamp() * 1000),
        location=_location("KPN B.V.", "KPN", "NL", "20408", now - timedelta(hours=2)),
        assignments=[
            _assignment(
                data,
                "esim_1GB_7D_NL_V2",
                key="netherlands",
                remaining=600_000_000,
                number=215009311,
                assigned=netherlands_start,
                start=netherlands_start,
                state="active",
            )
        ],
    )
    return [portugal, netherlands]
