"""Catalogue sync (`pulse.services.catalog`, `manage.py sync_catalog`) against the in-process simulators
of AirHub, eSIMCard and TravelRoam: added / changed / deactivated / unchanged, stale-while-error on an
outage or an empty answer, staff overrides kept, the lazy first sync, and the command's output and
exit status. A provider "stops listing" a bundle by removing it from the simulator's data."""

from __future__ import annotations

import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import connections
from django.db import connection

from providers.sandbox import travelroam as travelroam_sim
from providers.sandbox.catalogues import (
    airhub_plans,
    esimcard_packages,
    stable_uuid,
    travelroam_catalogue,
)
from pulse.management.commands.sync_catalog import Command as SyncCatalogCommand
from pulse.models import Bundle, CatalogSync
from pulse.services.catalog import LAZY_SYNC_LOCK, SyncSummary, active_bundles, catalog_sync
from pulse.services.safe_cache import safe_cache
from pulse.tests.catalog_helpers import request_count, sandbox_fixture  # noqa: F401 - registers it

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox")]

SIZES = {
    "airhub": len(airhub_plans()),
    "esimcard": len(esimcard_packages()),
    "travelroam": len(travelroam_catalogue()),
}
SEED = "esim_1GB_7D_TR_V2"
HTTP_500 = "unavailable: HTTP 500: Internal server error on catalogue"
EMPTY = "provider_error: the provider returned an empty catalogue"


def test_the_sandbox_catalogues_have_the_expected_sizes():
    # The literal numbers the summaries below are read against (demo data, providers/sandbox/catalogues.py).
    assert SIZES == {"airhub": 12, "esimcard": 11, "travelroam": 62}


def active(provider: str) -> set[str]:
    return set(Bundle.objects.filter(provider=provider, active=True).values_list("code", flat=True))


def runs(provider: str) -> list[tuple]:
    """This provider's CatalogSync rows, oldest first."""
    rows = CatalogSync.objects.filter(provider=provider).order_by("started_at", "id")
    return [(r.outcome, r.added, r.changed, r.deactivated, r.unchanged, r.error) for r in rows]


def row(provider: str, code: str) -> Bundle:
    return Bundle.objects.get(provider=provider, code=code)


# --- a first sync, then a second -------------------------------------------------------------------


def test_first_sync_adds_every_bundle_of_all_three_providers():
    summaries = catalog_sync()

    assert summaries == [
        SyncSummary("airhub", True, added=12),
        SyncSummary("esimcard", True, added=11),
        SyncSummary("travelroam", True, added=62),
    ]
    for name, size in SIZES.items():
        assert Bundle.objects.filter(provider=name, active=True).count() == size
        assert runs(name) == [("ok", size, 0, 0, 0, "")]
    assert Bundle.objects.filter(active=False).count() == 0
    assert [s.line() for s in summaries] == [
        "airhub: 12 added, 0 changed, 0 deactivated, 0 unchanged",
        "esimcard: 11 added, 0 changed, 0 deactivated, 0 unchanged",
        "travelroam: 62 added, 0 changed, 0 deactivated, 0 unchanged",
    ]


def _facts(bundle: Bundle) -> dict:
    return {
        "description": bundle.description,
        "countries": bundle.countries,
        "region": bundle.region,
        "data_bytes": bundle.data_bytes,
        "unlimited": bundle.unlimited,
        "duration_days": bundle.duration_days,
        "cost": bundle.cost,
        "cost_currency": bundle.cost_currency,
        "package_id": bundle.package_id,
        "retail_price_override": bundle.retail_price_override,
        "active": bundle.active,
    }


def test_synced_rows_hold_each_providers_facts():
    catalog_sync()

    assert _facts(row("travelroam", SEED)) == {
        "description": "eSIM, 1GB, 7 Days, Turkey, V2",
        "countries": ["TR"],
        "region": "Europe",
        "data_bytes": 10**9,  # 1000 MB, decimal
        "unlimited": False,
        "duration_days": 7,
        "cost": Decimal("1.23"),
        "cost_currency": "USD",
        "package_id": "",
        "retail_price_override": None,
        "active": True,
    }
    regional = row("travelroam", "esim_3GB_30D_EUL_V2")
    assert regional.countries == ["DE", "ES", "FR", "GR", "IT", "TR"]
    unlimited = row("travelroam", "esim_ULP_7D_IT_V2")
    assert (unlimited.unlimited, unlimited.data_bytes, unlimited.duration_days) == (True, None, 7)

    france = stable_uuid("esimcard-package:eSIM, 5GB, 30 Days, France, Unthrottled")
    assert _facts(row("esimcard", france)) == {
        "description": "eSIM, 5GB, 30 Days, France, Unthrottled",
        "countries": ["FR"],
        "region": "",
        "data_bytes": 5 * 10**9,
        "unlimited": False,
        "duration_days": 30,
        "cost": Decimal("11.94"),
        "cost_currency": "USD",
        "package_id": france,  # what /package/purchase is sent
        "retail_price_override": None,
        "active": True,
    }
    spain = row("airhub", "AH-ES-3GB-15D")
    assert (spain.description, spain.countries, spain.data_bytes, spain.duration_days, spain.cost) == (
        "Spain 3GB 15 Days",
        ["ES"],
        3 * 10**9,
        15,
        Decimal("8.50"),
    )


def test_a_second_sync_reports_everything_unchanged_and_rewrites_nothing():
    catalog_sync()
    updated_at = dict(Bundle.objects.values_list("id", "updated_at"))

    summaries = catalog_sync()

    assert summaries == [
        SyncSummary("airhub", True, unchanged=12),
        SyncSummary("esimcard", True, unchanged=11),
        SyncSummary("travelroam", True, unchanged=62),
    ]
    assert dict(Bundle.objects.values_list("id", "updated_at")) == updated_at  # no row was saved
    second = CatalogSync.objects.filter(provider="travelroam").order_by("-started_at").first()
    # ... but every listed bundle is stamped as seen by this run.
    assert set(Bundle.objects.filter(provider="travelroam").values_list("synced_at", flat=True)) == {
        second.started_at
    }
    assert runs("travelroam") == [("ok", 62, 0, 0, 0, ""), ("ok", 0, 0, 0, 62, "")]


def test_a_changed_cost_or_description_is_reported_changed(sandbox):
    catalog_sync()
    sandbox.data.tr_bundles[SEED].price = 1.5
    sandbox.data.airhub_plans["AH-TR-1GB-7D"].plan_name = "Turkey 1GB 7 Days (new)"

    summaries = catalog_sync()

    assert summaries == [
        SyncSummary("airhub", True, changed=1, unchanged=11),
        SyncSummary("esimcard", True, unchanged=11),
        SyncSummary("travelroam", True, changed=1, unchanged=61),
    ]
    assert row("travelroam", SEED).cost == Decimal("1.5")
    assert row("airhub", "AH-TR-1GB-7D").description == "Turkey 1GB 7 Days (new)"


def test_a_bundle_the_provider_stops_listing_is_deactivated_and_comes_back_when_relisted(sandbox):
    catalog_sync()
    first_seen = row("travelroam", "esim_1GB_7D_TR_U").synced_at
    removed = sandbox.data.tr_bundles.pop("esim_1GB_7D_TR_U")
    del sandbox.data.airhub_plans["AH-TR-3GB-7D"]

    assert catalog_sync() == [
        SyncSummary("airhub", True, deactivated=1, unchanged=11),
        SyncSummary("esimcard", True, unchanged=11),
        SyncSummary("travelroam", True, deactivated=1, unchanged=61),
    ]
    gone = row("travelroam", "esim_1GB_7D_TR_U")
    assert (gone.active, gone.synced_at) == (False, first_seen)  # kept for old orders; last seen then
    assert not row("airhub", "AH-TR-3GB-7D").active
    assert "esim_1GB_7D_TR_U" not in {b.code for b in active_bundles("travelroam")}

    sandbox.data.tr_bundles["esim_1GB_7D_TR_U"] = removed
    assert catalog_sync(provider="travelroam") == [SyncSummary("travelroam", True, changed=1, unchanged=61)]
    assert row("travelroam", "esim_1GB_7D_TR_U").active


def test_staff_overrides_survive_a_sync_that_changes_the_bundle(sandbox):
    catalog_sync()
    Bundle.objects.filter(provider="travelroam", code=SEED).update(
        retail_price_override=Decimal("2.49"), override_currency="EUR"
    )
    sandbox.data.tr_bundles[SEED].price = 1.4
    sandbox.data.tr_bundles[SEED].description = "eSIM, 1GB, 7 Days, Turkey, V2 (2025)"

    assert catalog_sync(provider="travelroam") == [SyncSummary("travelroam", True, changed=1, unchanged=61)]

    seed = row("travelroam", SEED)
    assert (seed.cost, seed.description) == (Decimal("1.4"), "eSIM, 1GB, 7 Days, Turkey, V2 (2025)")
    assert (seed.retail_price_override, seed.override_currency) == (Decimal("2.49"), "EUR")


def test_every_catalogue_page_is_read(sandbox, monkeypatch):
    monkeypatch.setattr(travelroam_sim, "MAX_PER_PAGE", 10)  # the simulator now pages by 10

    assert catalog_sync(provider="travelroam") == [SyncSummary("travelroam", True, added=62)]
    assert sandbox.stats()["requests"]["travelroam"]["/catalogue"] == 7
    assert active("travelroam") == set(sandbox.data.tr_bundles)


# --- stale-while-error ----------------------------------------------------------------------------


def test_an_outage_keeps_the_last_good_catalogue_and_records_a_failed_run(sandbox):
    catalog_sync()
    before = {b.code: (b.cost, b.active, b.synced_at) for b in Bundle.objects.filter(provider="travelroam")}
    sandbox.set_fault("travelroam", "http_500")
    del sandbox.data.tr_bundles["esim_1GB_7D_TR_U"]  # would be deactivated if the answer were read

    summaries = catalog_sync()

    assert summaries == [
        SyncSummary("airhub", True, unchanged=12),
        SyncSummary("esimcard", True, unchanged=11),
        SyncSummary("travelroam", False, kept=62, error=HTTP_500),
    ]
    assert summaries[2].line() == (
        f"travelroam: FAILED ({HTTP_500}); kept the last good catalogue of 62 active bundles"
    )
    after = {b.code: (b.cost, b.active, b.synced_at) for b in Bundle.objects.filter(provider="travelroam")}
    assert after == before
    assert runs("travelroam") == [("ok", 62, 0, 0, 0, ""), ("failed", 0, 0, 0, 0, HTTP_500)]
    failed = CatalogSync.objects.filter(provider="travelroam", outcome=CatalogSync.Outcome.FAILED).get()
    assert failed.finished_at is not None
    assert len(active_bundles("travelroam")) == 62  # renewals keep working from the kept catalogue


def test_an_outage_on_the_very_first_sync_keeps_nothing_and_says_so(sandbox):
    sandbox.set_fault("airhub", "http_500")

    summaries = catalog_sync(provider="airhub")

    assert summaries == [SyncSummary("airhub", False, kept=0, error=summaries[0].error)]
    assert summaries[0].error.startswith("unavailable: HTTP 500")
    assert summaries[0].line().endswith("; kept the last good catalogue of 0 active bundles")
    assert not Bundle.objects.exists()
    assert [r[0] for r in runs("airhub")] == ["failed"]


def test_an_empty_catalogue_from_a_provider_that_had_bundles_is_a_failure(sandbox):
    catalog_sync()
    sandbox.data.tr_bundles.clear()

    assert catalog_sync(provider="travelroam") == [SyncSummary("travelroam", False, kept=62, error=EMPTY)]
    assert len(active("travelroam")) == 62
    assert runs("travelroam")[-1] == ("failed", 0, 0, 0, 0, EMPTY)


def test_an_empty_catalogue_on_a_fresh_install_is_simply_empty(sandbox):
    sandbox.data.card_packages.clear()

    assert catalog_sync(provider="esimcard") == [SyncSummary("esimcard", True)]
    assert runs("esimcard") == [("ok", 0, 0, 0, 0, "")]


def test_a_catalogue_of_only_unusable_bundles_counts_as_empty(sandbox):
    catalog_sync()
    for bundle in sandbox.data.tr_bundles.values():
        bundle.price = -1.0

    assert catalog_sync(provider="travelroam") == [SyncSummary("travelroam", False, kept=62, error=EMPTY)]
    assert len(active("travelroam")) == 62


def test_a_bundle_with_a_negative_cost_is_skipped_not_fatal(sandbox):
    sandbox.data.tr_bundles["esim_1GB_7D_TR_U"].price = -0.5

    assert catalog_sync(provider="travelroam") == [SyncSummary("travelroam", True, added=61)]
    assert "esim_1GB_7D_TR_U" not in active("travelroam")


def test_a_cost_with_more_decimals_than_the_column_is_not_changed_on_every_run(sandbox):
    sandbox.data.tr_bundles[SEED].price = 1.23456
    catalog_sync(provider="travelroam")
    assert row("travelroam", SEED).cost == Decimal("1.2346")

    assert catalog_sync(provider="travelroam") == [SyncSummary("travelroam", True, unchanged=62)]


def test_one_provider_only_and_an_unknown_name():
    assert catalog_sync(provider="esimcard") == [SyncSummary("esimcard", True, added=11)]
    assert set(Bundle.objects.values_list("provider", flat=True)) == {"esimcard"}
    with pytest.raises(ValueError, match="unknown provider 'nope'"):
        catalog_sync(provider="nope")


# --- lazy first sync ------------------------------------------------------------------------------


def test_active_bundles_syncs_only_that_provider_on_first_use_and_only_once(sandbox):
    rows = active_bundles("travelroam")

    assert {b.code for b in rows} == set(sandbox.data.tr_bundles)
    assert runs("travelroam") == [("ok", 62, 0, 0, 0, "")]
    assert runs("airhub") == runs("esimcard") == []
    assert request_count(sandbox, "airhub") == 0

    active_bundles("travelroam")
    assert sandbox.stats()["requests"]["travelroam"]["/catalogue"] == 1


def test_no_lazy_sync_once_synced_even_when_everything_is_inactive(sandbox):
    catalog_sync(provider="airhub")
    Bundle.objects.filter(provider="airhub").update(active=False)
    calls = request_count(sandbox, "airhub")

    assert active_bundles("airhub") == []
    assert request_count(sandbox, "airhub") == calls  # the provider is not asked again


def test_no_lazy_sync_while_another_worker_holds_the_lock(sandbox, monkeypatch):
    monkeypatch.setattr("pulse.services.catalog.LAZY_SYNC_WAIT_SECONDS", 0.3)
    safe_cache.add(LAZY_SYNC_LOCK.format(provider="esimcard"), 1, 60)

    assert active_bundles("esimcard") == []
    assert request_count(sandbox, "esimcard") == 0


@pytest.mark.django_db(transaction=True)
def test_a_request_waits_for_the_first_sync_another_worker_is_running(sandbox):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(
        ("file:memorydb", ":memory:")
    ):
        pytest.skip("in-memory SQLite is per connection; CI runs this on a file database and PostgreSQL")
    lock = LAZY_SYNC_LOCK.format(provider="esimcard")
    safe_cache.add(lock, 1, 60)

    def other_worker_finishes():
        try:
            catalog_sync(provider="esimcard")
            safe_cache.delete(lock)
        finally:
            connection.close()

    timer = threading.Timer(0.3, other_worker_finishes)
    timer.start()
    try:
        rows = active_bundles("esimcard")
    finally:
        timer.join()
    assert len(rows) == 11
    assert sandbox.stats()["requests"]["esimcard"]["/packages"] == 1


def test_a_failed_lazy_sync_returns_nothing_and_is_recorded(sandbox):
    sandbox.set_fault("travelroam", "http_500")

    assert active_bundles("travelroam") == []
    assert [r[0] for r in runs("travelroam")] == ["failed"]


def test_no_lazy_sync_for_a_provider_that_is_not_enabled(settings):
    settings.ESIM_SANDBOX = False
    settings.AIRHUB_USERNAME = settings.AIRHUB_PASSWORD = ""

    assert active_bundles("airhub") == []
    assert not CatalogSync.objects.exists()


# --- the command ----------------------------------------------------------------------------------


def sync_command(*args: str, stdout: StringIO | None = None) -> str:
    out = stdout or StringIO()
    call_command("sync_catalog", *args, stdout=out, no_color=True)
    return out.getvalue()


def test_command_prints_one_summary_line_per_provider():
    assert sync_command().splitlines() == [
        "airhub: 12 added, 0 changed, 0 deactivated, 0 unchanged",
        "esimcard: 11 added, 0 changed, 0 deactivated, 0 unchanged",
        "travelroam: 62 added, 0 changed, 0 deactivated, 0 unchanged",
    ]
    assert sync_command().splitlines() == [
        "airhub: 0 added, 0 changed, 0 deactivated, 12 unchanged",
        "esimcard: 0 added, 0 changed, 0 deactivated, 11 unchanged",
        "travelroam: 0 added, 0 changed, 0 deactivated, 62 unchanged",
    ]


def test_command_provider_option_syncs_only_that_provider(sandbox):
    assert sync_command("--provider", "travelroam") == (
        "travelroam: 62 added, 0 changed, 0 deactivated, 0 unchanged\n"
    )
    assert set(CatalogSync.objects.values_list("provider", flat=True)) == {"travelroam"}
    assert request_count(sandbox, "airhub") == request_count(sandbox, "esimcard") == 0


def test_command_reports_a_failed_provider_and_fails(sandbox):
    sync_command()
    sandbox.set_fault("travelroam", "http_500")
    out = StringIO()

    with pytest.raises(CommandError) as exc_info:
        sync_command(stdout=out)

    assert str(exc_info.value) == "sync failed for travelroam (last good catalogue kept)"
    assert exc_info.value.returncode == 1
    assert out.getvalue().splitlines() == [
        "airhub: 0 added, 0 changed, 0 deactivated, 12 unchanged",
        "esimcard: 0 added, 0 changed, 0 deactivated, 11 unchanged",
        f"travelroam: FAILED ({HTTP_500}); kept the last good catalogue of 62 active bundles",
    ]


def test_command_exit_status_is_1_when_a_provider_failed(sandbox, monkeypatch, capsys):
    # run_from_argv is what manage.py runs; it closes DB connections afterwards, which would end the
    # test's transaction, so that one step is stubbed.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    sandbox.set_fault("esimcard", "http_500")

    with pytest.raises(SystemExit) as exc_info:
        SyncCatalogCommand().run_from_argv(["manage.py", "sync_catalog", "--provider", "esimcard"])

    assert exc_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == "CommandError: sync failed for esimcard (last good catalogue kept)\n"
    assert "esimcard: FAILED (unavailable: HTTP 500" in captured.out

    sandbox.clear_faults()
    SyncCatalogCommand().run_from_argv(["manage.py", "sync_catalog", "--provider", "esimcard"])  # exit 0
    assert capsys.readouterr().out == "esimcard: 11 added, 0 changed, 0 deactivated, 0 unchanged\n"


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_command_draws_a_progress_bar_on_a_terminal_only():
    output = sync_command("--provider", "airhub", stdout=_Terminal())

    bar, summary, end = output.split("\n")
    frames = bar.split("\r")[1:]
    assert len(frames) == 12
    assert frames[0] == "airhub      [" + "#" * 2 + "." * 28 + "] 1/12"
    assert frames[-1] == "airhub      [" + "#" * 30 + "] 12/12"
    assert (summary, end) == ("airhub: 12 added, 0 changed, 0 deactivated, 0 unchanged", "")
    assert "[" not in sync_command("--provider", "airhub")  # not a terminal: summary only


def test_command_without_any_enabled_provider_fails_clearly(settings):
    settings.ESIM_SANDBOX = False
    settings.AIRHUB_USERNAME = settings.ESIMCARD_EMAIL = settings.TRAVELROAM_API_KEY = ""

    with pytest.raises(CommandError, match="No provider is enabled"):
        sync_command()
