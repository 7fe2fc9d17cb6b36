"""`manage.py find_bundle`: the seed's smoke test of plan matching (tests run with ESIM_SANDBOX=true, so
a provider with no synced rows is read live from its in-process simulator)."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from providers.errors import ProviderUnavailable
from pulse.models import Bundle

SEED = "eSIM, 1GB, 7 Days, Turkey, V2"


def _run(*args, **options) -> str:
    out = StringIO()
    call_command("find_bundle", *args, stdout=out, **options)
    return out.getvalue()


def _no_client(name):
    raise AssertionError(f"the {name} catalogue must come from the database")


@pytest.mark.django_db
def test_seed_plan_matches_the_sandbox_travelroam_catalogue():
    output = _run(SEED, country="TR")
    lines = output.splitlines()
    assert lines[:3] == [
        f"plan name:   {SEED!r}",
        "parsed:      1 GB, 7 days, TR, V2",
        (
            "matching on: 1 GB, 7 days, TR, V2 "
            "(data from plan name; duration from plan name; country from country code)"
        ),
    ]
    assert lines[3].startswith("catalogue:   no travelroam bundles in the database yet; fetched ")
    assert lines[3].endswith(" live from the sandbox simulator")
    assert lines[4] == "same plan:   esim_1GB_7D_TR_V2  'eSIM, 1GB, 7 Days, Turkey, V2', cost 1.23 USD"
    assert lines[5:9] == [
        "       - covers TR",
        "       - same data 1 GB",
        "       - same duration 7 days",
        "       - same variant V2; also sold as esim_1GB_7D_TR_U (Unthrottled)",
    ]
    assert lines[9] == "alternatives (5):"
    alternatives = [line.split()[1] for line in lines if line.startswith("  ") and line.strip()[0].isdigit()]
    assert alternatives == [
        "esim_1GB_7D_TR_U",
        "esim_11GB_7D_TR_V2",
        "esim_1GB_17D_TR_V2",
        "esim_3GB_15D_TR_V2",
        "esim_3GB_30D_EUL_V2",
    ]
    # The traps are never the same plan, and the empty-description bundle never appears.
    assert "esim_500MB_1D_TR_V2" not in output


@pytest.mark.django_db
def test_the_plan_code_option_is_used():
    output = _run(SEED, code="esim_1GB_7D_TR_U", alternatives=0)
    assert "plan code:   esim_1GB_7D_TR_U (1 GB, 7 days, TR, Unthrottled)" in output
    assert "same plan:   esim_1GB_7D_TR_U  'eSIM, 1GB, 7 Days, Turkey, Unthrottled'" in output
    assert "       - same bundle code as the current plan (esim_1GB_7D_TR_U)" in output
    assert "alternatives: none" in output


@pytest.mark.django_db
def test_other_providers_catalogues_are_read_live_too():
    output = _run("Spain 3GB 15 Days", provider="airhub")
    assert "same plan:   AH-ES-3GB-15D  'Spain 3GB 15 Days', cost 8.50 USD" in output


@pytest.mark.django_db
def test_no_country_is_no_match_and_exit_code_1():
    out = StringIO()
    with pytest.raises(SystemExit) as exc_info:
        call_command("find_bundle", "eSIM, 1GB, 7 Days, V2", stdout=out)
    assert exc_info.value.code == 1
    assert out.getvalue().splitlines()[-1] == (
        "no match: no country could be determined (no country in the plan: pass the eSIM's country "
        "code); a country is never ignored"
    )


@pytest.mark.django_db
def test_synced_rows_are_used_instead_of_the_live_catalogue(monkeypatch):
    monkeypatch.setattr("pulse.management.commands.find_bundle.provider_client", _no_client)
    synced = datetime(2026, 1, 1, tzinfo=UTC)
    common = {"provider": "travelroam", "countries": ["TR"], "region": "Europe", "synced_at": synced}
    Bundle.objects.create(
        code="esim_1GB_7D_TR_V2", description=SEED, data_bytes=10**9, duration_days=7,
        cost=Decimal("1.2300"), active=False, **common,
    )  # fmt: skip
    Bundle.objects.create(
        code="esim_3GB_15D_TR_V2", description="eSIM, 3GB, 15 Days, Turkey, V2", data_bytes=3 * 10**9,
        duration_days=15, cost=Decimal("2.5700"), **common,
    )  # fmt: skip
    output = _run(SEED, country="TR")
    assert "catalogue:   1 active of 2 travelroam bundles in the database" in output
    assert "same plan:   none (1 active travelroam bundles cover TR, none with the same data" in output
    assert "  1. esim_3GB_15D_TR_V2  'eSIM, 3GB, 15 Days, Turkey, V2', cost 2.5700 USD" in output


@pytest.mark.django_db
def test_only_inactive_rows_is_no_match(monkeypatch):
    monkeypatch.setattr("pulse.management.commands.find_bundle.provider_client", _no_client)
    Bundle.objects.create(
        provider="travelroam", code="esim_1GB_7D_TR_V2", description=SEED, countries=["TR"],
        data_bytes=10**9, duration_days=7, cost=Decimal("1.23"), active=False,
        synced_at=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("find_bundle", SEED, stdout=out)
    assert "no match: none of the 1 travelroam bundles is active" in out.getvalue()


@pytest.mark.django_db
def test_bad_input_and_unavailable_providers_are_command_errors(monkeypatch):
    with pytest.raises(CommandError, match="unknown country 'Narnia'"):
        _run(SEED, country="Narnia")
    monkeypatch.setattr("pulse.management.commands.find_bundle.provider_client", lambda name: None)
    with pytest.raises(CommandError, match="travelroam is not configured"):
        _run(SEED)


@pytest.mark.django_db
def test_a_failing_catalogue_fetch_is_a_command_error(monkeypatch):
    class Failing:
        def catalogue(self):
            raise ProviderUnavailable("travelroam", "timeout")

    monkeypatch.setattr("pulse.management.commands.find_bundle.provider_client", lambda name: Failing())
    with pytest.raises(CommandError, match="could not fetch the travelroam catalogue: "):
        _run(SEED)
