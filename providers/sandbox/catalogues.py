"""Deterministic product catalogues of the three simulated providers.

The TravelRoam catalogue deliberately contains traps for naive plan matching (providers.md §6.1): an empty
description, ``11GB`` next to ``1GB``, ``17D`` next to ``7D``, a V2/Unthrottled pair, a regional bundle that
covers single-country searches, and more than one page (eSIM Go default perPage 50).
"""

from __future__ import annotations

import uuid

from providers.sandbox.models import GB, MB, AirHubPlan, CardPackageType
from providers.sandbox.travelroam_models import Country, TrBundle

# Fixed namespace so catalogue UUIDs are identical in every world (tests and docs can name them).
SANDBOX_NAMESPACE = uuid.UUID("5a0d6b1e-2f4c-4e8a-9c3d-7b1e0f2a4c6d")


def stable_uuid(key: str) -> str:
    return str(uuid.uuid5(SANDBOX_NAMESPACE, key))


COUNTRIES = {
    "TR": Country("Turkey", "Europe", "TR"),
    "DE": Country("Germany", "Europe", "DE"),
    "FR": Country("France", "Europe", "FR"),
    "IT": Country("Italy", "Europe", "IT"),
    "ES": Country("Spain", "Europe", "ES"),
    "GR": Country("Greece", "Europe", "GR"),
    "GB": Country("United Kingdom", "Europe", "GB"),
    "NL": Country("Netherlands", "Europe", "NL"),
    "PT": Country("Portugal", "Europe", "PT"),
    "US": Country("United States", "North America", "US"),
    "JP": Country("Japan", "Asia", "JP"),
    "AE": Country("United Arab Emirates", "Middle East", "AE"),
}

# Wholesale USD per GB, per country: only shapes the synthetic prices.
_BASE_PRICE = {
    "TR": 0.95, "DE": 1.6, "FR": 1.6, "IT": 1.55, "ES": 1.5, "GR": 1.7,
    "GB": 1.6, "NL": 1.65, "PT": 1.5, "US": 1.9, "JP": 2.2, "AE": 3.5,
}  # fmt: skip
_STANDARD_SIZES = [(1, 7), (3, 15), (5, 30), (10, 30), (20, 30)]
_PRICE_OVERRIDES = {"esim_1GB_7D_TR_V2": 1.23}


def _price(iso: str, gigabytes: float, days: int) -> float:
    return round(_BASE_PRICE[iso] * gigabytes**0.85 + days * 0.01, 2)


def _bundle(iso: str, gigabytes: int, days: int, variant: str = "V2") -> TrBundle:
    country = COUNTRIES[iso]
    name = f"esim_{gigabytes}GB_{days}D_{iso}_{variant}"
    label = "V2" if variant == "V2" else "Unthrottled"
    return TrBundle(
        name=name,
        description=f"eSIM, {gigabytes}GB, {days} Days, {country.name}, {label}",
        countries=[country],
        data_mb=gigabytes * 1000,
        duration=days,
        price=_PRICE_OVERRIDES.get(name, _price(iso, gigabytes, days)),
    )


def _turkey_traps() -> list[TrBundle]:
    # Listed first on purpose: naive "first match wins" code picks one of these for "1GB, 7 Days, Turkey".
    empty = TrBundle("esim_500MB_1D_TR_V2", "", [COUNTRIES["TR"]], 500, 1, 0.49)
    return [empty, _bundle("TR", 11, 7), _bundle("TR", 1, 17), _bundle("TR", 1, 7, "U")]


def _specials() -> list[TrBundle]:
    europe = ["TR", "DE", "FR", "IT", "ES", "GR"]
    regional = TrBundle(
        name="esim_3GB_30D_EUL_V2",
        description="eSIM, 3GB, 30 Days, Europe Lite, V2",
        countries=[COUNTRIES[iso] for iso in europe],
        data_mb=3000,
        duration=30,
        price=6.9,
        groups=["Standard Fixed", "Regional"],
    )
    unlimited = TrBundle(
        name="esim_ULP_7D_IT_V2",
        description="eSIM, Unlimited Plus, 7 Days, Italy, V2",
        countries=[COUNTRIES["IT"]],
        data_mb=0,
        duration=7,
        price=18.5,
        unlimited=True,
        groups=["Standard Unlimited Plus"],
    )
    return [
        _bundle("GR", 2, 10),
        _bundle("DE", 1, 7, "U"),
        _bundle("FR", 1, 7, "U"),
        _bundle("JP", 1, 7),
        _bundle("JP", 5, 30),
        _bundle("AE", 1, 7),
        regional,
        unlimited,
    ]


def travelroam_catalogue() -> list[TrBundle]:
    bundles = _turkey_traps()
    for iso in ["TR", "DE", "FR", "IT", "ES", "GR", "GB", "NL", "PT", "US"]:
        bundles.extend(_bundle(iso, gigabytes, days) for gigabytes, days in _STANDARD_SIZES)
    bundles.extend(_specials())
    return bundles


# name, price, data (bytes or None = unlimited), unit, days, iso
_CARD_PACKAGES: list[tuple[str, str, int | None, str, int, str]] = [
    ("eSIM, 1GB, 30 Days, France, Unthrottled", "3.61", 1 * GB, "GB", 30, "FR"),
    ("eSIM, 5GB, 30 Days, France, Unthrottled", "11.94", 5 * GB, "GB", 30, "FR"),
    ("eSIM, 10GB, 30 Days, France, Unthrottled", "19.80", 10 * GB, "GB", 30, "FR"),
    ("eSIM, Unlimited, 7 Days, Italy", "16.99", None, "GB", 7, "IT"),
    ("eSIM, Unlimited, 15 Days, Italy", "29.50", None, "GB", 15, "IT"),
    ("eSIM, 3GB, 15 Days, Spain, Unthrottled", "7.25", 3 * GB, "GB", 15, "ES"),
    ("eSIM, 1GB, 7 Days, Turkey, Unthrottled", "2.15", 1 * GB, "GB", 7, "TR"),
    ("eSIM, 500MB, 7 Days, Germany, Unthrottled", "1.99", 500 * MB, "MB", 7, "DE"),
    ("eSIM, 2GB, 15 Days, Germany, Unthrottled", "5.40", 2 * GB, "GB", 15, "DE"),
    ("eSIM, 5GB, 30 Days, United States, Unthrottled", "13.75", 5 * GB, "GB", 30, "US"),
    ("eSIM, 3GB, 30 Days, United Kingdom, Unthrottled", "8.90", 3 * GB, "GB", 30, "GB"),
]


def esimcard_packages() -> list[CardPackageType]:
    return [
        CardPackageType(
            id=stable_uuid(f"esimcard-package:{name}"),
            name=name,
            price=price,
            data_bytes=data,
            data_unit=unit,
            validity_days=days,
            country_code=iso,
            country_name=COUNTRIES[iso].name,
        )
        for name, price, data, unit, days, iso in _CARD_PACKAGES
    ]


# code, name, iso, GB, days, price
_AIRHUB_PLANS = [
    ("AH-ES-3GB-15D", "Spain 3GB 15 Days", "ES", 3, 15, "8.50"),
    ("AH-ES-3GB-30D", "Spain 3GB 30 Days", "ES", 3, 30, "9.90"),
    ("AH-ES-5GB-15D", "Spain 5GB 15 Days", "ES", 5, 15, "12.00"),
    ("AH-TR-1GB-7D", "Turkey 1GB 7 Days", "TR", 1, 7, "3.20"),
    ("AH-TR-1GB-15D", "Turkey 1GB 15 Days", "TR", 1, 15, "3.90"),
    ("AH-TR-3GB-7D", "Turkey 3GB 7 Days", "TR", 3, 7, "6.10"),
    ("AH-GR-2GB-10D", "Greece 2GB 10 Days", "GR", 2, 10, "6.40"),
    ("AH-GR-2GB-15D", "Greece 2GB 15 Days", "GR", 2, 15, "7.10"),
    ("AH-GR-3GB-10D", "Greece 3GB 10 Days", "GR", 3, 10, "8.20"),
    ("AH-DE-2GB-10D", "Germany 2GB 10 Days", "DE", 2, 10, "6.60"),
    ("AH-FR-5GB-30D", "France 5GB 30 Days", "FR", 5, 30, "13.10"),
    ("AH-IT-3GB-15D", "Italy 3GB 15 Days", "IT", 3, 15, "8.40"),
]


def airhub_plans() -> list[AirHubPlan]:
    return [
        AirHubPlan(code, name, iso, COUNTRIES[iso].name, gigabytes, days, price)
        for code, name, iso, gigabytes, days, price in _AIRHUB_PLANS
    ]
