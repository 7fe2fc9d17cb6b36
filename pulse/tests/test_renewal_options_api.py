"""GET /api/esim/renewal/options/?iccid=&currency= end to end against the in-process simulators: the
eSIM's plan comes from a real status lookup, the bundles from the provider's synced catalogue (synced
lazily on first use), the prices from the server (sandbox rates: 1 USD = 0.92 EUR, markup 30 %)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from providers.sandbox.catalogues import stable_uuid
from pulse.models import Bundle, CatalogSync
from pulse.services.catalog import catalog_sync
from pulse.services.money import round_money
from pulse.tests.catalog_helpers import (  # noqa: F401 - sandbox_fixture registers the fixture
    AIRHUB_ICCID,
    ESIMCARD_ICCID,
    SEED_ICCID,
    UNKNOWN_ICCID,
    request_count,
    sandbox_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox")]

URL = "/api/esim/renewal/options/"
SEED = "esim_1GB_7D_TR_V2"
MARKUP = Decimal("1.30")
USD_EUR = Decimal("0.92")  # the sandbox CurrencyFreaks rate
SEED_ALTERNATIVES = [
    "esim_1GB_7D_TR_U",
    "esim_11GB_7D_TR_V2",
    "esim_1GB_17D_TR_V2",
    "esim_3GB_15D_TR_V2",
    "esim_3GB_30D_EUL_V2",
]
FRANCE_5GB = stable_uuid("esimcard-package:eSIM, 5GB, 30 Days, France, Unthrottled")
FRANCE_10GB = stable_uuid("esimcard-package:eSIM, 10GB, 30 Days, France, Unthrottled")


def options(**params: str):
    return APIClient().get(URL, params)


def codes(body: dict) -> list[str]:
    return [option["bundle"] for option in body["options"]]


# --- the seed eSIM --------------------------------------------------------------------------------


def test_seed_esim_in_eur_lists_the_turkey_1gb_7_day_bundle_first_as_the_same_plan():
    response = options(iccid=SEED_ICCID, currency="EUR")

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "iccid": SEED_ICCID,
        "provider": "TRAVELROAM",
        "current_plan": {
            "name": "eSIM, 1GB, 7 Days, Turkey, V2",
            "code": SEED,
            "country_code": "TR",
            "data_bytes": 10**9,
            "unlimited": False,
            "days": 7,
            "status": "Expired",
        },
        "currency": "EUR",
        "same_plan_bundle": SEED,
        "options": body["options"],  # each checked below
        "sales_paused": False,
        "message": None,
    }
    # 1.23 USD x 1.30 = 1.599 USD x 0.92 = 1.47108 EUR -> 1.47, rounded once.
    assert round_money(Decimal("1.23") * MARKUP * USD_EUR, "EUR") == Decimal("1.47")
    assert body["options"][0] == {
        "bundle": SEED,
        "name": "eSIM, 1GB, 7 Days, Turkey, V2",
        "data": "1.00 GB",
        "data_bytes": 10**9,
        "unlimited": False,
        "days": 7,
        "countries": ["TR"],
        "region": "Europe",
        "price": "1.47",
        "currency": "EUR",
        "formatted_price": "€1.47",
        "same_plan": True,
        "reasons": [
            f"same bundle code as the current plan ({SEED})",
            "covers TR",
            "same data 1 GB",
            "same duration 7 days",
            "same variant V2; also sold as esim_1GB_7D_TR_U (Unthrottled)",
        ],
    }
    assert codes(body) == [SEED, *SEED_ALTERNATIVES]
    assert {option["currency"] for option in body["options"]} == {"EUR"}


def test_seed_usd_price_is_cost_times_markup():
    response = options(iccid=SEED_ICCID, currency="USD")

    assert response.status_code == 200
    first = response.json()["options"][0]
    seed = Bundle.objects.get(provider="travelroam", code=SEED)
    assert seed.cost == Decimal("1.23")
    assert (first["bundle"], first["price"], first["currency"], first["formatted_price"]) == (
        SEED,
        "1.60",  # 1.23 x 1.30 = 1.599
        "USD",
        "$1.60",
    )
    assert first["price"] == str(round_money(seed.cost * MARKUP, "USD"))


def test_every_option_is_priced_from_its_own_catalogue_cost():
    body = options(iccid=SEED_ICCID, currency="USD").json()

    costs = dict(Bundle.objects.filter(provider="travelroam").values_list("code", "cost"))
    assert {o["bundle"]: o["price"] for o in body["options"]} == {
        code: str(round_money(costs[code] * MARKUP, "USD")) for code in codes(body)
    }


@pytest.mark.parametrize("currency", ["USD", "EUR"])
def test_no_11gb_or_other_country_bundle_is_ever_the_same_plan(currency):
    body = options(iccid=SEED_ICCID, currency=currency).json()

    same = [o["bundle"] for o in body["options"] if o["same_plan"]]
    assert same == [SEED] == [body["same_plan_bundle"]]
    eleven = next(o for o in body["options"] if o["bundle"] == "esim_11GB_7D_TR_V2")
    assert eleven["same_plan"] is False
    assert all("TR" in o["countries"] for o in body["options"])  # a country is never ignored
    assert "esim_500MB_1D_TR_V2" not in codes(body)  # the empty-description trap


def test_without_the_seed_bundle_a_trap_still_never_becomes_the_same_plan():
    catalog_sync(provider="travelroam")
    Bundle.objects.filter(provider="travelroam", code=SEED).update(active=False)

    body = options(iccid=SEED_ICCID, currency="USD").json()

    assert SEED not in codes(body)
    assert body["same_plan_bundle"] not in {"esim_11GB_7D_TR_V2", "esim_1GB_17D_TR_V2", "esim_500MB_1D_TR_V2"}
    same = [o for o in body["options"] if o["same_plan"]]
    assert all((o["data_bytes"], o["days"], o["countries"]) == (10**9, 7, ["TR"]) for o in same)


def test_currency_defaults_to_the_payment_currency_and_is_case_insensitive(settings):
    settings.STRIPE_CURRENCY = "EUR"

    assert options(iccid=SEED_ICCID).json()["currency"] == "EUR"
    lower = options(iccid=SEED_ICCID, currency="usd").json()
    assert (lower["currency"], lower["options"][0]["price"]) == ("USD", "1.60")


def test_a_staff_override_is_the_price_shown():
    catalog_sync(provider="travelroam")
    Bundle.objects.filter(provider="travelroam", code=SEED).update(
        retail_price_override=Decimal("1.99"), override_currency="EUR"
    )

    in_eur = options(iccid=SEED_ICCID, currency="EUR").json()["options"][0]
    in_usd = options(iccid=SEED_ICCID, currency="USD").json()["options"][0]

    assert (in_eur["bundle"], in_eur["price"]) == (SEED, "1.99")
    # EUR->USD is the inverse of the sandbox rate, 1 / 0.92 = 1.0870 (rounded): 1.99 x 1.087 = 2.163
    assert (in_usd["bundle"], in_usd["price"]) == (SEED, "2.16")


def test_an_unpriceable_bundle_is_left_out_not_sold_for_nothing():
    catalog_sync(provider="travelroam")
    Bundle.objects.filter(provider="travelroam", code=SEED).update(cost=Decimal("0"))

    body = options(iccid=SEED_ICCID, currency="USD").json()

    assert SEED not in codes(body)
    assert all(Decimal(o["price"]) > 0 for o in body["options"])


# --- catalogue behaviour seen through the endpoint ------------------------------------------------


def test_first_request_syncs_only_the_eSIMs_provider(sandbox):
    assert not Bundle.objects.exists()

    assert options(iccid=SEED_ICCID, currency="USD").status_code == 200

    assert list(CatalogSync.objects.values_list("provider", "outcome")) == [("travelroam", "ok")]
    assert sandbox.stats()["requests"]["travelroam"]["/catalogue"] == 1
    assert "/api/ESIM/GetPlanInformation" not in sandbox.stats()["requests"]["airhub"]


def test_options_survive_a_catalogue_outage_from_the_last_good_sync(sandbox):
    catalog_sync(provider="travelroam")
    sandbox.set_fault("travelroam", "http_500", path_contains="catalogue")
    assert catalog_sync(provider="travelroam")[0].ok is False

    body = options(iccid=SEED_ICCID, currency="EUR").json()

    assert codes(body) == [SEED, *SEED_ALTERNATIVES]
    assert body["options"][0]["price"] == "1.47"


# --- the other providers --------------------------------------------------------------------------


def test_an_esimcard_esim_gets_options_from_the_esimcard_catalogue():
    response = options(iccid=ESIMCARD_ICCID, currency="EUR")

    assert response.status_code == 200
    body = response.json()
    assert (body["provider"], body["same_plan_bundle"]) == ("ESIMCARD", FRANCE_5GB)
    assert body["current_plan"] == {
        "name": "eSIM, 5GB, 30 Days, France, Unthrottled",
        "code": FRANCE_5GB,
        "country_code": "FR",
        "data_bytes": 5 * 10**9,
        "unlimited": False,
        "days": 30,
        "status": "Active",
    }
    # 11.94 x 1.30 = 15.522 USD x 0.92 = 14.28024 EUR; 19.80 x 1.30 x 0.92 = 23.6808
    assert [(o["bundle"], o["name"], o["price"], o["same_plan"]) for o in body["options"]] == [
        (FRANCE_5GB, "eSIM, 5GB, 30 Days, France, Unthrottled", "14.28", True),
        (FRANCE_10GB, "eSIM, 10GB, 30 Days, France, Unthrottled", "23.68", False),
    ]
    assert set(Bundle.objects.values_list("provider", flat=True)) == {"esimcard"}


def test_an_airhub_esim_gets_options_from_the_airhub_catalogue():
    response = options(iccid=AIRHUB_ICCID, currency="USD")

    assert response.status_code == 200
    body = response.json()
    assert (body["provider"], body["same_plan_bundle"]) == ("AIRHUB", "AH-ES-3GB-15D")
    assert body["current_plan"]["name"] == "Spain 3GB 15 Days"
    # 8.50, 12.00 and 9.90 USD x 1.30
    assert [(o["bundle"], o["price"], o["same_plan"]) for o in body["options"]] == [
        ("AH-ES-3GB-15D", "11.05", True),
        ("AH-ES-5GB-15D", "15.60", False),
        ("AH-ES-3GB-30D", "12.87", False),
    ]
    assert all(o["countries"] == ["ES"] for o in body["options"])
    assert set(Bundle.objects.values_list("provider", flat=True)) == {"airhub"}


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_esim_is_404_esim_not_found():
    response = options(iccid=UNKNOWN_ICCID, currency="EUR")

    assert response.status_code == 404
    assert response.json() == {
        "error": "eSIM not found.",
        "code": "esim_not_found",
        "details": f"No provider knows ICCID {UNKNOWN_ICCID}. Check the number on the eSIM's packaging or e-mail.",
    }


@pytest.mark.parametrize("currency", ["GBP", "XYZ", "eu"])
def test_bad_currency_is_400_before_any_provider_is_asked(sandbox, currency):
    response = options(iccid=SEED_ICCID, currency=currency)

    assert response.status_code == 400
    assert response.json() == {
        "error": f"Unsupported currency {currency.upper()}; supported currencies: USD, EUR.",
        "code": "unsupported_currency",
        "details": "Use one of: USD, EUR.",
    }
    assert request_count(sandbox) == 0
    assert not CatalogSync.objects.exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"currency": "EUR"}, "ICCID is required."),
        ({"iccid": "", "currency": "EUR"}, "ICCID is required."),
        ({"iccid": "89320420000102455", "currency": "EUR"}, "ICCID must be 18 to 22 digits long, got 17."),
        (
            {"iccid": "8932042000010245584", "currency": "EUR"},
            "ICCID check digit is wrong (Luhn check failed); please re-type the number.",
        ),
    ],
)
def test_missing_or_malformed_iccid_is_400_invalid_iccid(sandbox, params, message):
    response = options(**params)

    assert response.status_code == 400
    assert response.json() == {"error": message, "code": "invalid_iccid", "details": message}
    assert request_count(sandbox) == 0


def test_only_get_is_allowed():
    response = APIClient().post(URL, {"iccid": SEED_ICCID}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_a_revoked_esim_cannot_be_renewed(sandbox):
    response = APIClient().get(
        "/api/esim/renewal/options/", {"iccid": "8944000000000000902", "currency": "USD"}
    )
    assert response.status_code == 409
    assert response.json() == {
        "error": "This eSIM cannot be renewed.",
        "code": "esim_not_renewable",
        "details": "The provider has revoked this eSIM; it cannot take a new bundle.",
    }
