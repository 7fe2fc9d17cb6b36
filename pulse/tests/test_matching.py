"""Renewal matching (pulse.services.matching) against a catalogue modelled on the sandbox catalogues
(providers/sandbox/catalogues.py), traps included: an EMPTY description, 11GB next to 1GB, 17D next to
7D, a V2 / Unthrottled pair, a regional "Europe Lite" bundle and an "Unlimited Plus" bundle."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from providers.base import AIRHUB, ESIMCARD, TRAVELROAM, CatalogBundle
from providers.plans import parse_plan_name
from pulse.models import Bundle
from pulse.services.matching import PlanQuery, explain_no_match, match_bundles, resolve_plan

GB = 10**9
MB = 10**6


def _tr(code, description, countries, data_bytes, days, *, unlimited=False, region="Europe"):
    return CatalogBundle(
        provider=TRAVELROAM,
        code=code,
        description=description,
        cost=Decimal("1.00"),
        currency="USD",
        countries=tuple(countries),
        region=region,
        data_bytes=data_bytes,
        unlimited=unlimited,
        duration_days=days,
    )


TRAVELROAM_CATALOGUE = [
    # Traps first: a naive "first match wins" matcher picks one of these for "1GB, 7 Days, Turkey".
    _tr("esim_500MB_1D_TR_V2", "", ["TR"], 500 * MB, 1),
    _tr("esim_11GB_7D_TR_V2", "eSIM, 11GB, 7 Days, Turkey, V2", ["TR"], 11 * GB, 7),
    _tr("esim_1GB_17D_TR_V2", "eSIM, 1GB, 17 Days, Turkey, V2", ["TR"], GB, 17),
    _tr("esim_1GB_7D_TR_U", "eSIM, 1GB, 7 Days, Turkey, Unthrottled", ["TR"], GB, 7),
    _tr("esim_1GB_7D_TR_V2", "eSIM, 1GB, 7 Days, Turkey, V2", ["TR"], GB, 7),
    _tr("esim_3GB_15D_TR_V2", "eSIM, 3GB, 15 Days, Turkey, V2", ["TR"], 3 * GB, 15),
    _tr("esim_5GB_30D_TR_V2", "eSIM, 5GB, 30 Days, Turkey, V2", ["TR"], 5 * GB, 30),
    _tr("esim_1GB_7D_DE_V2", "eSIM, 1GB, 7 Days, Germany, V2", ["DE"], GB, 7),
    _tr("esim_1GB_7D_DE_U", "eSIM, 1GB, 7 Days, Germany, Unthrottled", ["DE"], GB, 7),
    _tr("esim_3GB_15D_DE_V2", "eSIM, 3GB, 15 Days, Germany, V2", ["DE"], 3 * GB, 15),
    _tr("esim_1GB_7D_FR_U", "eSIM, 1GB, 7 Days, France, Unthrottled", ["FR"], GB, 7),
    _tr("esim_1GB_7D_IT_V2", "eSIM, 1GB, 7 Days, Italy, V2", ["IT"], GB, 7),
    _tr("esim_3GB_15D_ES_V2", "eSIM, 3GB, 15 Days, Spain, V2", ["ES"], 3 * GB, 15),
    _tr("esim_2GB_10D_GR_V2", "eSIM, 2GB, 10 Days, Greece, V2", ["GR"], 2 * GB, 10),
    _tr("esim_500MB_1D_GB_V2", "eSIM, 500MB, 1 Day, United Kingdom, V2", ["GB"], 500 * MB, 1),
    _tr("esim_1GB_7D_GB_V2", "eSIM, 1GB, 7 Days, United Kingdom, V2", ["GB"], GB, 7),
    _tr("esim_1GB_7D_US_V2", "eSIM, 1GB, 7 Days, United States, V2", ["US"], GB, 7, region="North America"),
    _tr("esim_20GB_30D_US_V2", "eSIM, 20GB, 30 Days, United States, V2", ["US"], 20 * GB, 30),
    _tr("esim_1500MB_7D_BA_V2", "eSIM, 1.5GB, 7 Days, Bosnia and Herzegovina, V2", ["BA"], 1500 * MB, 7),
    _tr("esim_1GB_7D_JP_V2", "eSIM, 1GB, 7 Days, Japan, V2", ["JP"], GB, 7, region="Asia"),
    _tr("esim_1GB_7D_AE_V2", "eSIM, 1GB, 7 Days, United Arab Emirates, V2", ["AE"], GB, 7),
    _tr(
        "esim_3GB_30D_EUL_V2",
        "eSIM, 3GB, 30 Days, Europe Lite, V2",
        ["TR", "DE", "FR", "IT", "ES", "GR"],
        3 * GB,
        30,
    ),
    # A regional bundle that lists no countries: it covers through its region only.
    _tr("esim_5GB_30D_RBK_V2", "eSIM, 5GB, 30 Days, Balkans, V2", [], 5 * GB, 30, region="Balkans"),
    _tr("esim_ULP_7D_IT_V2", "eSIM, Unlimited Plus, 7 Days, Italy, V2", ["IT"], None, 7, unlimited=True),
]

# eSIMCard codes are package UUIDs: nothing can be read from them.
_CARD_PACKAGES = [
    ("eSIM, 1GB, 30 Days, France, Unthrottled", "FR", GB, 30),
    ("eSIM, 5GB, 30 Days, France, Unthrottled", "FR", 5 * GB, 30),
    ("eSIM, 10GB, 30 Days, France, Unthrottled", "FR", 10 * GB, 30),
    ("eSIM, Unlimited, 7 Days, Italy", "IT", None, 7),
    ("eSIM, Unlimited, 15 Days, Italy", "IT", None, 15),
    ("eSIM, 3GB, 15 Days, Spain, Unthrottled", "ES", 3 * GB, 15),
    ("eSIM, 1GB, 7 Days, Turkey, Unthrottled", "TR", GB, 7),
    ("eSIM, 500MB, 7 Days, Germany, Unthrottled", "DE", 500 * MB, 7),
    ("eSIM, 2GB, 15 Days, Germany, Unthrottled", "DE", 2 * GB, 15),
]
CARD_ID = {name: f"00000000-0000-4000-8000-{index:012d}" for index, (name, *_) in enumerate(_CARD_PACKAGES)}
ESIMCARD_CATALOGUE = [
    CatalogBundle(
        provider=ESIMCARD,
        code=CARD_ID[name],
        description=name,
        cost=Decimal("3.61"),
        currency="USD",
        countries=(iso,),
        data_bytes=data,
        unlimited=data is None,
        duration_days=days,
        package_id=CARD_ID[name],
    )
    for name, iso, data, days in _CARD_PACKAGES
]

_AIRHUB_PLANS = [
    ("AH-ES-3GB-15D", "Spain 3GB 15 Days", "ES", 3, 15),
    ("AH-ES-3GB-30D", "Spain 3GB 30 Days", "ES", 3, 30),
    ("AH-TR-1GB-7D", "Turkey 1GB 7 Days", "TR", 1, 7),
    ("AH-TR-1GB-15D", "Turkey 1GB 15 Days", "TR", 1, 15),
    ("AH-TR-3GB-7D", "Turkey 3GB 7 Days", "TR", 3, 7),
    ("AH-GR-2GB-10D", "Greece 2GB 10 Days", "GR", 2, 10),
    ("AH-DE-2GB-10D", "Germany 2GB 10 Days", "DE", 2, 10),
]
AIRHUB_CATALOGUE = [
    CatalogBundle(AIRHUB, code, name, Decimal("3.20"), "USD", (iso,), None, gb * GB, False, days, code)
    for code, name, iso, gb, days in _AIRHUB_PLANS
]

CATALOGUE = TRAVELROAM_CATALOGUE + ESIMCARD_CATALOGUE + AIRHUB_CATALOGUE
SEED = "eSIM, 1GB, 7 Days, Turkey, V2"
TR, CARD, AH = TRAVELROAM, ESIMCARD, AIRHUB


def _matches(name="", provider=TRAVELROAM, country="", code="", catalogue=None, **facts):
    plan = PlanQuery(provider=provider, plan_name=name, plan_code=code, country_code=country, **facts)
    return match_bundles(plan=plan, bundles=CATALOGUE if catalogue is None else catalogue)


def _same_plan_code(matches) -> str | None:
    same = [match.bundle.code for match in matches if match.same_plan]
    assert len(same) <= 1
    assert not same or matches[0].same_plan  # the same plan always comes first
    return same[0] if same else None


# name, provider, country, expected parse (data, unlimited, days, countries, region, variant), same-plan code
TABLE = [
    (SEED, TR, "", (GB, False, 7, ("TR",), None, "V2"), "esim_1GB_7D_TR_V2"),
    (SEED, TR, "TR", (GB, False, 7, ("TR",), None, "V2"), "esim_1GB_7D_TR_V2"),
    ("esim_1GB_7D_TR_V2", TR, "", (GB, False, 7, ("TR",), None, "V2"), "esim_1GB_7D_TR_V2"),
    ("esim_11GB_7D_TR_V2", TR, "", (11 * GB, False, 7, ("TR",), None, "V2"), "esim_11GB_7D_TR_V2"),
    ("esim_1GB_17D_TR_V2", TR, "", (GB, False, 17, ("TR",), None, "V2"), "esim_1GB_17D_TR_V2"),
    ("esim_1GB_7D_TR_U", TR, "", (GB, False, 7, ("TR",), None, "Unthrottled"), "esim_1GB_7D_TR_U"),
    (
        "eSIM, 1GB, 7 Days, Turkey, Unthrottled",
        TR,
        "",
        (GB, False, 7, ("TR",), None, "Unthrottled"),
        "esim_1GB_7D_TR_U",
    ),
    ("Turkey 1GB 7 Days", AH, "", (GB, False, 7, ("TR",), None, None), "AH-TR-1GB-7D"),
    # No variant named: the standard bundle before the Unthrottled one.
    ("Turkey 1GB 7 Days", TR, "", (GB, False, 7, ("TR",), None, None), "esim_1GB_7D_TR_V2"),
    ("Türkiye 1 GB 7D", AH, "", (GB, False, 7, ("TR",), None, None), "AH-TR-1GB-7D"),
    ("eSIM, 2GB, 7 Days, Turkey, V2", TR, "", (2 * GB, False, 7, ("TR",), None, "V2"), None),
    (
        "eSIM, 0.5GB, 1 Day, United Kingdom",
        TR,
        "",
        (500 * MB, False, 1, ("GB",), None, None),
        "esim_500MB_1D_GB_V2",
    ),
    ("UK 1 GB 7 Days", TR, "", (GB, False, 7, ("GB",), None, None), "esim_1GB_7D_GB_V2"),
    ("500MB 3 Days USA", TR, "", (500 * MB, False, 3, ("US",), None, None), None),
    (
        "eSIM, 20GB, 30 Days, United States",
        TR,
        "",
        (20 * GB, False, 30, ("US",), None, None),
        "esim_20GB_30D_US_V2",
    ),
    (
        "eSIM, Unlimited Plus, 7 Days, Italy, V2",
        TR,
        "",
        (None, True, 7, ("IT",), None, "V2"),
        "esim_ULP_7D_IT_V2",
    ),
    ("esim_ULP_7D_IT_V2", TR, "", (None, True, 7, ("IT",), None, "V2"), "esim_ULP_7D_IT_V2"),
    # A region is not a country: without one, nothing.
    ("eSIM, 3GB, 30 Days, Europe Lite, V2", TR, "", (3 * GB, False, 30, (), "Europe Lite", "V2"), None),
    (
        "eSIM, 3GB, 30 Days, Europe Lite, V2",
        TR,
        "FR",
        (3 * GB, False, 30, (), "Europe Lite", "V2"),
        "esim_3GB_30D_EUL_V2",
    ),
    (
        "eSIM, 5GB, 30 Days, Balkans, V2",
        TR,
        "BA",
        (5 * GB, False, 30, (), "Balkans", "V2"),
        "esim_5GB_30D_RBK_V2",
    ),
    ("Spain 3GB 15 Days", AH, "", (3 * GB, False, 15, ("ES",), None, None), "AH-ES-3GB-15D"),
    ("Spain 3GB 15 Days", TR, "", (3 * GB, False, 15, ("ES",), None, None), "esim_3GB_15D_ES_V2"),
    (
        "eSIM, 1,5GB, 7 Days, Bosnia and Herzegovina",
        TR,
        "",
        (1500 * MB, False, 7, ("BA",), None, None),
        "esim_1500MB_7D_BA_V2",
    ),
    ("Greece 2GB 10 Days", AH, "", (2 * GB, False, 10, ("GR",), None, None), "AH-GR-2GB-10D"),
    ("Greece 2GB 10 Days", TR, "", (2 * GB, False, 10, ("GR",), None, None), "esim_2GB_10D_GR_V2"),
    ("Germany 2GB 10 Days", AH, "", (2 * GB, False, 10, ("DE",), None, None), "AH-DE-2GB-10D"),
    ("eSIM, 1GB, 7 Days, Japan, V2", TR, "", (GB, False, 7, ("JP",), None, "V2"), "esim_1GB_7D_JP_V2"),
    ("eSIM, 1GB, 7 Days, Japan, V2", AH, "", (GB, False, 7, ("JP",), None, "V2"), None),
    ("UAE 1GB 7 Days", TR, "", (GB, False, 7, ("AE",), None, None), "esim_1GB_7D_AE_V2"),
    ("1GB 7 Days", TR, "", (GB, False, 7, (), None, None), None),
    ("1GB 7 Days", TR, "DE", (GB, False, 7, (), None, None), "esim_1GB_7D_DE_V2"),
    # Only the Unthrottled variant exists for France: it is the same plan, and the reason says so.
    ("eSIM, 1GB, 7 Days, France, V2", TR, "", (GB, False, 7, ("FR",), None, "V2"), "esim_1GB_7D_FR_U"),
    (
        "eSIM, 5GB, 30 Days, France, Unthrottled",
        CARD,
        "",
        (5 * GB, False, 30, ("FR",), None, "Unthrottled"),
        CARD_ID["eSIM, 5GB, 30 Days, France, Unthrottled"],
    ),
    ("eSIM, 1GB, 7 Days, France, Unthrottled", CARD, "", (GB, False, 7, ("FR",), None, "Unthrottled"), None),
    (
        "eSIM, Unlimited, 7 Days, Italy",
        CARD,
        "",
        (None, True, 7, ("IT",), None, None),
        CARD_ID["eSIM, Unlimited, 7 Days, Italy"],
    ),
    (
        "Italy Unlimited 1 Week",
        CARD,
        "",
        (None, True, 7, ("IT",), None, None),
        CARD_ID["eSIM, Unlimited, 7 Days, Italy"],
    ),
    (
        "eSIM, 500MB, 7 Days, Germany, Unthrottled",
        CARD,
        "",
        (500 * MB, False, 7, ("DE",), None, "Unthrottled"),
        CARD_ID["eSIM, 500MB, 7 Days, Germany, Unthrottled"],
    ),
    ("AH-TR-1GB-7D", AH, "", (GB, False, 7, ("TR",), None, None), "AH-TR-1GB-7D"),
    ("", TR, "TR", (None, False, None, (), None, None), None),
    ("   ", TR, "TR", (None, False, None, (), None, None), None),
    (CARD_ID["eSIM, Unlimited, 7 Days, Italy"], CARD, "IT", (None, False, None, (), None, None), None),
]


@pytest.mark.parametrize(("name", "provider", "country", "parsed", "expected"), TABLE)
def test_plan_names_parse_and_match_the_catalogue(name, provider, country, parsed, expected):
    spec = parse_plan_name(name)
    assert (spec.data_bytes, spec.unlimited, spec.days, spec.countries, spec.region, spec.variant) == parsed
    matches = _matches(name, provider, country)
    assert _same_plan_code(matches) == expected
    wanted = {country} if country else set(spec.countries)
    for match in matches:
        assert match.bundle.provider == provider  # never another provider's bundle
        assert getattr(match.bundle, "active", True)
        covered = set(match.bundle.countries) or {"BA", "RS", "GR"}  # the Balkans bundle lists none
        assert wanted <= covered  # never another country's bundle
        assert match.reasons


def test_the_table_is_large_enough():
    assert len(TABLE) >= 30


def test_seed_plan_same_plan_and_ranked_alternatives():
    matches = _matches(SEED, country="TR")
    assert [(m.bundle.code, m.same_plan) for m in matches] == [
        ("esim_1GB_7D_TR_V2", True),
        ("esim_1GB_7D_TR_U", False),  # same data and duration, other variant
        ("esim_11GB_7D_TR_V2", False),  # same duration, more data
        ("esim_1GB_17D_TR_V2", False),  # same data, longer
        ("esim_3GB_15D_TR_V2", False),  # more data and longer, by (data, days)
        ("esim_3GB_30D_EUL_V2", False),  # capped at 5 alternatives: 5GB 30D is left out
    ]
    assert matches[0].reasons == [
        "covers TR",
        "same data 1 GB",
        "same duration 7 days",
        "same variant V2; also sold as esim_1GB_7D_TR_U (Unthrottled)",
    ]
    assert matches[2].reasons == ["covers TR", "more data: 11 GB vs 1 GB", "same duration 7 days"]


def test_1gb_never_matches_11gb_or_17d_as_the_same_plan():
    traps_only = [b for b in TRAVELROAM_CATALOGUE if b.code not in {"esim_1GB_7D_TR_V2", "esim_1GB_7D_TR_U"}]
    matches = _matches(SEED, catalogue=traps_only)
    assert _same_plan_code(matches) is None
    by_code = {m.bundle.code: m for m in matches}
    assert not by_code["esim_11GB_7D_TR_V2"].same_plan
    assert not by_code["esim_1GB_17D_TR_V2"].same_plan
    assert "longer: 17 days vs 7 days" in by_code["esim_1GB_17D_TR_V2"].reasons
    # ...and the other way round: an 11GB plan is not the 1GB bundle.
    assert _same_plan_code(_matches("eSIM, 11GB, 7 Days, Turkey, V2")) == "esim_11GB_7D_TR_V2"


def test_an_empty_description_never_matches_by_text():
    empty = next(b for b in TRAVELROAM_CATALOGUE if b.description == "")
    for name, provider, country, _, _ in TABLE:
        assert empty not in [m.bundle for m in _matches(name, provider, country)]
    # With no catalogue facts and an opaque code, an empty-description bundle matches nothing at all.
    blank = _tr("0b1c2d3e-0000-4000-8000-000000000001", "", [], None, None)
    for name in (SEED, "", "Turkey", "eSIM"):
        assert _matches(name, country="TR", catalogue=[blank]) == []


def test_an_empty_description_bundle_still_matches_on_its_catalogue_facts():
    # Documented choice: the provider's structured fields (500 MB, 1 day, TR) are facts, not text.
    matches = _matches("eSIM, 500MB, 1 Day, Turkey, V2")
    assert _same_plan_code(matches) == "esim_500MB_1D_TR_V2"


def test_another_countrys_bundle_is_never_returned():
    germany_only = [b for b in TRAVELROAM_CATALOGUE if b.countries == ("DE",)]
    plan = PlanQuery(provider=TRAVELROAM, plan_name=SEED)
    assert match_bundles(plan=plan, bundles=germany_only) == []
    assert explain_no_match(plan=plan, bundles=germany_only) == (
        "no active travelroam bundle covers TR (3 checked)"
    )


def test_the_query_country_wins_over_the_plan_names_country():
    matches = _matches(SEED, country="DE")
    assert _same_plan_code(matches) == "esim_1GB_7D_DE_V2"
    assert all("DE" in m.bundle.countries for m in matches)


def test_no_country_means_no_match_with_an_explanation():
    plan = PlanQuery(provider=TRAVELROAM, plan_name="eSIM, 1GB, 7 Days, V2")
    assert match_bundles(plan=plan, bundles=CATALOGUE) == []
    assert explain_no_match(plan=plan, bundles=CATALOGUE) == (
        "no country could be determined (no country in the plan: pass the eSIM's country code); "
        "a country is never ignored"
    )
    regional = PlanQuery(provider=TRAVELROAM, plan_name="eSIM, 3GB, 30 Days, Europe Lite, V2")
    assert "region Europe Lite but no country" in explain_no_match(plan=regional, bundles=CATALOGUE)


def test_an_unknown_country_code_is_not_replaced_by_the_plan_names_country():
    plan = PlanQuery(provider=TRAVELROAM, plan_name=SEED, country_code="XX")
    assert match_bundles(plan=plan, bundles=CATALOGUE) == []
    assert "unknown country code 'XX'" in explain_no_match(plan=plan, bundles=CATALOGUE)


def test_regional_bundles_are_alternatives_covering_the_country():
    matches = _matches("eSIM, 1GB, 7 Days, Germany, V2")
    regional = next(m for m in matches if m.bundle.code == "esim_3GB_30D_EUL_V2")
    assert not regional.same_plan
    assert regional.reasons[0] == "covers DE (regional bundle: Europe Lite, 6 countries)"
    # Not offered where it does not reach.
    assert "esim_3GB_30D_EUL_V2" not in [m.bundle.code for m in _matches("UK 1GB 7 Days")]


def test_a_bundle_listing_no_countries_covers_through_its_region():
    matches = _matches("eSIM, 1,5GB, 7 Days, Bosnia and Herzegovina")
    assert [m.bundle.code for m in matches] == ["esim_1500MB_7D_BA_V2", "esim_5GB_30D_RBK_V2"]
    assert matches[1].reasons[0] == "covers BA (regional bundle: Balkans, 11 countries)"


def test_unlimited_matches_unlimited():
    matches = _matches("eSIM, Unlimited Plus, 7 Days, Italy, V2")
    assert [(m.bundle.code, m.same_plan) for m in matches] == [("esim_ULP_7D_IT_V2", True)]
    assert matches[0].reasons[1] == "both unlimited (Plus)"
    card = _matches("eSIM, Unlimited, 7 Days, Italy", CARD)
    assert [m.bundle.description for m in card] == [
        "eSIM, Unlimited, 7 Days, Italy",
        "eSIM, Unlimited, 15 Days, Italy",
    ]
    # A limited plan is never "the same" as an unlimited bundle; it may be a bigger alternative.
    limited = _matches("eSIM, 1GB, 7 Days, Italy, V2")
    assert _same_plan_code(limited) == "esim_1GB_7D_IT_V2"
    unlimited_alternative = next(m for m in limited if m.bundle.code == "esim_ULP_7D_IT_V2")
    assert "more data: unlimited (Plus) vs 1 GB" in unlimited_alternative.reasons


def test_a_different_provider_never_matches():
    assert _matches("Turkey 1GB 7 Days", AH, catalogue=TRAVELROAM_CATALOGUE) == []
    mixed = _matches(SEED, AH)
    assert {m.bundle.provider for m in mixed} == {AIRHUB}
    assert _same_plan_code(mixed) == "AH-TR-1GB-7D"


def test_alternatives_never_have_less_data_or_a_shorter_duration():
    plan = parse_plan_name("eSIM, 3GB, 15 Days, Turkey, V2")
    for match in _matches("eSIM, 3GB, 15 Days, Turkey, V2"):
        bundle = match.bundle
        assert bundle.unlimited or bundle.data_bytes >= plan.data_bytes
        assert bundle.duration_days >= plan.days


def test_exact_plan_code_wins_outright_when_active():
    # The name says V2, but the provider's own code of the current plan is the Unthrottled bundle.
    matches = _matches(SEED, code="esim_1GB_7D_TR_U")
    assert _same_plan_code(matches) == "esim_1GB_7D_TR_U"
    assert matches[0].reasons[0] == "same bundle code as the current plan (esim_1GB_7D_TR_U)"
    # Only the code known: its facts and coverage come from the bundle itself.
    regional = _matches(code="esim_3GB_30D_EUL_V2")
    assert _same_plan_code(regional) == "esim_3GB_30D_EUL_V2"


def _row(code, **fields) -> Bundle:
    # Unsaved model rows: pulse.models.Bundle instances qualify as BundleLike.
    base = {"provider": TRAVELROAM, "description": "", "countries": ["TR"], "region": "Europe"}
    base |= {"cost": Decimal("1.23"), "synced_at": datetime(2026, 1, 1, tzinfo=UTC)}
    return Bundle(code=code, **(base | fields))


def test_inactive_bundles_never_match_and_model_rows_qualify():
    rows = [
        _row("esim_1GB_7D_TR_V2", description=SEED, data_bytes=GB, duration_days=7, active=False),
        _row(
            "esim_3GB_15D_TR_V2",
            description="eSIM, 3GB, 15 Days, Turkey, V2",
            data_bytes=3 * GB,
            duration_days=15,
        ),
    ]
    matches = _matches(SEED, code="esim_1GB_7D_TR_V2", catalogue=rows)
    assert [(m.bundle.code, m.same_plan) for m in matches] == [("esim_3GB_15D_TR_V2", False)]
    plan = PlanQuery(provider=TRAVELROAM, plan_name=SEED)
    assert explain_no_match(plan=plan, bundles=rows[:1]) == "none of the 1 travelroam bundles is active"


def test_query_facts_come_first_and_binary_gigabytes_are_the_same_plan():
    # eSIMCard reports a 1 GB plan in binary units: 1 GiB is still "1 GB".
    matches = _matches("", CARD, "TR", data_bytes=2**30, duration_days=7)
    assert _same_plan_code(matches) == CARD_ID["eSIM, 1GB, 7 Days, Turkey, Unthrottled"]
    plan = PlanQuery(provider=ESIMCARD, plan_name="Turkey 3GB 30 Days", country_code="tr", data_bytes=GB)
    resolved = resolve_plan(plan)
    assert (resolved.data_bytes, resolved.days, resolved.countries) == (GB, 30, frozenset({"TR"}))
    assert resolved.sources == {"data": "query", "duration": "plan name", "country": "country code"}


def test_explain_no_match():
    def explain(name, provider=TRAVELROAM, country="", bundles=CATALOGUE):
        plan = PlanQuery(provider=provider, plan_name=name, country_code=country)
        return explain_no_match(plan=plan, bundles=bundles)

    assert explain(SEED) == ""
    assert explain(SEED, bundles=ESIMCARD_CATALOGUE) == "no travelroam bundles in the catalogue"
    assert explain("eSIM, 2GB, 7 Days, Turkey, V2") == (
        "8 active travelroam bundles cover TR, none with the same data and duration (2 GB, 7 days)"
    )
    assert explain("Turkey travel eSIM") == (
        "the plan's duration could not be read from its name or code, so no bundle can be compared"
    )
