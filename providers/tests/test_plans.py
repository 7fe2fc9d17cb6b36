"""Plan-name parsing (providers.plans) and the country / region tables (providers.countries)."""

from decimal import Decimal

import pytest

from providers.base import TRAVELROAM, CatalogBundle
from providers.countries import (
    REGIONS,
    countries_in_region,
    find_places,
    iso_for_name,
    name_for_iso,
    region_name,
)
from providers.plans import (
    UNTHROTTLED,
    PlanSpec,
    bundle_facts,
    describe_data,
    parse_bundle_code,
    parse_plan_name,
)

GB = 10**9
MB = 10**6


@pytest.mark.parametrize(
    ("text", "data_bytes", "unlimited", "days", "countries", "region", "variant"),
    [
        ("eSIM, 1GB, 7 Days, Turkey, V2", GB, False, 7, ("TR",), None, "V2"),
        ("esim_11GB_7D_TR_V2", 11 * GB, False, 7, ("TR",), None, "V2"),
        ("esim_1GB_17D_TR_V2", GB, False, 17, ("TR",), None, "V2"),
        ("esim_1GB_7D_TR_U", GB, False, 7, ("TR",), None, UNTHROTTLED),
        ("esimp_1GB_7D_TR_V2", GB, False, 7, ("TR",), None, "V2"),
        ("Turkey 1GB 7 Days", GB, False, 7, ("TR",), None, None),
        ("Türkiye 1 GB 7D", GB, False, 7, ("TR",), None, None),
        ("turkiye 1gb 7d", GB, False, 7, ("TR",), None, None),
        ("eSIM, 0.5GB, 1 Day, United Kingdom", 500 * MB, False, 1, ("GB",), None, None),
        ("500MB 3 Days USA", 500 * MB, False, 3, ("US",), None, None),
        ("500 MB 3 Days U.S.A.", 500 * MB, False, 3, ("US",), None, None),
        ("eSIM, Unlimited Plus, 7 Days, Italy, V2", None, True, 7, ("IT",), None, "V2"),
        ("eSIM, Unlimited Lite, 1 Day, Japan", None, True, 1, ("JP",), None, None),
        ("eSIM, 3GB, 30 Days, Europe Lite, V2", 3 * GB, False, 30, (), "Europe Lite", "V2"),
        ("Spain 3GB 15 Days", 3 * GB, False, 15, ("ES",), None, None),
        ("eSIM, 20GB, 30 Days, United States", 20 * GB, False, 30, ("US",), None, None),
        ("eSIM, 1,5GB, 7 Days, Bosnia and Herzegovina", 1500 * MB, False, 7, ("BA",), None, None),
        ("1.5 GB 7 days Bosnia & Herzegovina", 1500 * MB, False, 7, ("BA",), None, None),
        ("eSIM, 5GB, 30 Days, France, Unthrottled", 5 * GB, False, 30, ("FR",), None, UNTHROTTLED),
        ("eSIM, 500MB, 7 Days, Germany, Unthrottled", 500 * MB, False, 7, ("DE",), None, UNTHROTTLED),
        ("Greece 2GB 10 Days", 2 * GB, False, 10, ("GR",), None, None),
        ("1,500MB 2 Weeks Greece", 1500 * MB, False, 14, ("GR",), None, None),
        ("Japan 10GB 1 Month", 10 * GB, False, 30, ("JP",), None, None),
        ("South Korea 5GB 30 Days", 5 * GB, False, 30, ("KR",), None, None),
        ("Czechia 1GB 7 Day", GB, False, 7, ("CZ",), None, None),
        ("Czech Republic 1GB 7 Day", GB, False, 7, ("CZ",), None, None),
        ("UAE 1GB 7 Days", GB, False, 7, ("AE",), None, None),
        ("UK 1 GB 7 Days", GB, False, 7, ("GB",), None, None),
        ("Great Britain 1GB 7 Days", GB, False, 7, ("GB",), None, None),
        ("USA & Canada 10GB 30 Days", 10 * GB, False, 30, ("US", "CA"), None, None),
        ("United States of America 3GB 15 days", 3 * GB, False, 15, ("US",), None, None),
        ("esim_ULP_7D_IT_V2", None, True, 7, ("IT",), None, "V2"),
        ("esim_3GB_30D_EUL_V2", 3 * GB, False, 30, (), "Europe Lite", "V2"),
        ("esim_UL_3D_RLA_V2", None, True, 3, (), "Latin America", "V2"),
        ("AH-TR-1GB-7D", GB, False, 7, ("TR",), None, None),
        ("Global 10GB 30 Days", 10 * GB, False, 30, (), "Global", None),
        ("Europe+ 5GB 15 Days", 5 * GB, False, 15, (), "Europe+", None),
        ("", None, False, None, (), None, None),
        ("   ", None, False, None, (), None, None),
        ("3f5b43e4-7b3d-5347-aac2-fbdc336761d2", None, False, None, (), None, None),
    ],
)
def test_parse_plan_name(text, data_bytes, unlimited, days, countries, region, variant):
    spec = parse_plan_name(text)
    assert (spec.data_bytes, spec.unlimited, spec.days) == (data_bytes, unlimited, days)
    assert (spec.countries, spec.region, spec.variant) == (countries, region, variant)
    assert spec.raw == text


def test_numbers_are_read_whole_never_as_substrings():
    assert parse_plan_name("eSIM, 11GB, 7 Days, Turkey, V2").data_bytes == 11 * GB
    assert parse_plan_name("eSIM, 1GB, 17 Days, Turkey, V2").days == 17
    assert parse_plan_name("esim_11GB_7D_TR_V2").data_bytes != GB
    assert parse_plan_name("esim_1GB_17D_TR_V2").days != 7
    # "V2" is a version, "5G"/"4G" are networks: neither is a quantity.
    spec = parse_plan_name("Turkey V2 5G 4G")
    assert (spec.data_bytes, spec.days, spec.variant) == (None, None, "V2")


def test_data_is_in_decimal_bytes():
    assert parse_plan_name("1GB").data_bytes == 1_000_000_000
    assert parse_plan_name("500MB").data_bytes == 500_000_000
    assert parse_plan_name("0.5GB").data_bytes == parse_plan_name("500 MB").data_bytes
    assert parse_plan_name("1 TB").data_bytes == 10**12


def test_two_different_amounts_or_durations_are_ambiguous_and_unknown():
    spec = parse_plan_name("Turkey 1GB or 3GB, 7 Days or 15 Days")
    assert (spec.data_bytes, spec.days) == (None, None)
    # The same amount written twice is not ambiguous.
    assert parse_plan_name("esim_1GB_7D_TR_V2 (1GB, 7 days)").data_bytes == GB


def test_unlimited_ignores_the_daily_allowance_and_reads_the_tier():
    spec = parse_plan_name("Unlimited Plus (2GB/day high speed), 7 Days, Spain")
    assert (spec.unlimited, spec.data_bytes, spec.tier, spec.days) == (True, None, "Plus", 7)
    assert parse_plan_name("esim_ULE_1D_JP_V2").tier == "Essential"


@pytest.mark.parametrize(
    "text",
    ["eSIM, 1GB, 7 Days, GB", "1 GB 7 days IN Italy", "Valid IT 1GB 7D", "esim 1GB 7D GB V2", "plans for us"],
)
def test_two_letter_codes_are_never_read_from_free_text(text):
    countries = parse_plan_name(text).countries
    assert "GB" not in countries
    assert "IN" not in countries
    assert "US" not in countries


def test_country_codes_in_bundle_codes_are_standalone_upper_case_tokens():
    assert parse_bundle_code("esim_1GB_7D_GB_V2").countries == ("GB",)
    assert parse_bundle_code("esim_1GB_7D_tr_V2").countries == ()
    assert parse_bundle_code("esimTR_1GB_7D").countries == ()
    assert parse_bundle_code("esim_1GB_7D_XX_V2").countries == ()  # not an ISO code
    # Lower-case "d" is hex inside ids, never days.
    assert parse_bundle_code("abc_123d").days is None


def test_bundle_code_parsing():
    spec = parse_bundle_code("esim_500MB_1D_TR_V2")
    assert spec == PlanSpec(500 * MB, False, 1, ("TR",), None, "V2", "esim_500MB_1D_TR_V2")
    assert parse_bundle_code("esim_UL_7D_RBK_V2").region == "Balkans"
    assert parse_bundle_code("").empty
    assert parse_bundle_code("07abd99c-99a8-5ff3-991f-62ebd723778a").empty


def test_empty_spec_and_descriptions():
    assert parse_plan_name("").empty
    assert parse_plan_name(None).empty
    assert parse_plan_name("").describe() == "nothing recognised"
    assert parse_plan_name("eSIM, 1,5GB, 7 Days, Turkey, V2").describe() == "1.5 GB, 7 days, TR, V2"
    assert describe_data(500 * MB) == "500 MB"
    assert describe_data(None, unlimited=True, tier="Plus") == "unlimited (Plus)"


def _bundle(**fields) -> CatalogBundle:
    base = {"provider": TRAVELROAM, "code": "x", "description": "", "cost": Decimal("1"), "currency": "USD"}
    return CatalogBundle(**(base | fields))


def test_bundle_facts_prefer_catalogue_fields_and_ignore_an_empty_description():
    facts = bundle_facts(_bundle(code="esim_500MB_1D_TR_V2", countries=("TR",), data_bytes=500 * MB))
    assert (facts.data_bytes, facts.days, facts.countries) == (500 * MB, 1, frozenset({"TR"}))
    opaque = bundle_facts(_bundle(code="07abd99c-99a8-5ff3-991f-62ebd723778a"))
    assert (opaque.data_bytes, opaque.days, opaque.countries) == (None, None, frozenset())


def test_a_bundles_region_counts_only_when_it_lists_no_country():
    # TravelRoam sets region to the first country's continent even on single-country bundles.
    single = bundle_facts(_bundle(code="esim_1GB_7D_TR_V2", countries=("TR",), region="Europe"))
    assert single.countries == frozenset({"TR"})
    regional = bundle_facts(_bundle(code="b", description="eSIM, 5GB, 30 Days, Balkans, V2"))
    assert {"BA", "RS", "GR"} <= regional.countries
    assert regional.region == "Balkans"


# --- countries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Turkey", "TR"),
        ("Türkiye", "TR"),
        ("Turkiye", "TR"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("Great Britain", "GB"),
        ("United Kingdom", "GB"),
        ("USA", "US"),
        ("United States of America", "US"),
        ("South Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("North Korea", "KP"),
        ("Czechia", "CZ"),
        ("Czech Republic", "CZ"),
        ("UAE", "AE"),
        ("Côte d'Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("St. Lucia", "LC"),
        ("Bosnia & Herzegovina", "BA"),
        ("tr", "TR"),
        ("Narnia", None),
        ("", None),
    ],
)
def test_iso_for_name(name, code):
    assert iso_for_name(name) == code


def test_every_country_round_trips_and_the_table_is_complete():
    from providers.countries import _NAMES

    assert len(_NAMES) >= 249
    for code in _NAMES:
        assert iso_for_name(name_for_iso(code)) == code
    assert name_for_iso("tr") == "Turkey"
    assert name_for_iso("ZZ") is None


def test_regions():
    assert {"TR", "DE", "FR", "IT", "ES", "GR"} <= countries_in_region("Europe Lite")
    assert "TR" in countries_in_region("europe")
    assert countries_in_region("Balkans") >= {"BA", "RS", "AL"}
    assert "US" in countries_in_region("North America")
    assert countries_in_region("Global") >= countries_in_region("Asia")
    assert countries_in_region("Atlantis") == frozenset()
    assert region_name("EU+") == "Europe+"
    expected = {"Europe", "Europe Lite", "Asia", "Global", "Latin America", "Middle East", "Africa"}
    assert expected | {"North America", "Balkans", "Caribbean"} <= set(REGIONS)


def test_find_places_matches_whole_names_only():
    assert find_places("Nigeria") == (("NG",), ())
    assert find_places("Romania") == (("RO",), ())  # not Oman
    assert find_places("Papua New Guinea") == (("PG",), ())  # not Guinea
    assert find_places("US Virgin Islands") == (("VI",), ())  # not US
    assert find_places("eSIM, 3GB, 30 Days, Europe Lite, V2") == ((), ("Europe Lite",))
