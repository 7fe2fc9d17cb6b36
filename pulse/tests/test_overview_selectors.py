"""The staff overview's numbers (pulse.selectors.overview) against orders whose figures are known.

The period is 1-3 March 2026 (UTC). Orders outside it, a payment just after midnight, a refund of an
order paid before the period and a second currency make each rule of the definitions matter.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from providers.observe import Lookup
from pulse.models import ProviderLookupHour
from pulse.selectors import alerts, overview
from pulse.selectors.overview import Period, RevenueDay
from pulse.services.lookup_stats import LookupCounter, bucket_index, write_counts
from pulse.tests.alert_helpers import alert_email_sent
from pulse.tests.overview_helpers import S, at, known_orders, make_order

pytestmark = pytest.mark.django_db

PERIOD = Period(date(2026, 3, 1), date(2026, 3, 3))
D1, D2, D3 = PERIOD.days()


@pytest.fixture
def orders():
    return known_orders()


def test_revenue_per_day_is_paid_minus_refunded_per_currency(orders):
    rows = overview.revenue_per_day(PERIOD)

    assert rows == [
        RevenueDay(D1, "USD", Decimal("10.00"), Decimal("4.00"), 1, 1),
        RevenueDay(D2, "EUR", Decimal("15.00"), Decimal("0"), 1, 0),
        RevenueDay(D2, "USD", Decimal("25.00"), Decimal("0"), 2, 0),
        RevenueDay(D3, "USD", Decimal("7.00"), Decimal("5.00"), 1, 1),
    ]
    assert [row.net for row in rows] == [Decimal("6.00"), Decimal("15.00"), Decimal("25.00"), Decimal("2.00")]


def test_revenue_for_one_currency(orders):
    assert overview.revenue_per_day(PERIOD, "EUR") == [
        RevenueDay(D2, "EUR", Decimal("15.00"), Decimal("0"), 1, 0)
    ]
    assert overview.currencies_in(PERIOD) == ["EUR", "USD"]


def test_renewals_per_day_by_end_state(orders):
    rows = overview.renewals_per_day(PERIOD)

    assert [row.day for row in rows] == [D1, D2, D3]
    nothing = dict.fromkeys(overview.END_STATES, 0)
    assert rows[0].counts == {**nothing, "completed": 2}
    assert rows[1].counts == {**nothing, "completed": 1, "refunded": 1}
    assert rows[2].counts == {**nothing, "needs_staff": 1, "not_paid": 1, "in_progress": 1}
    assert [row.total for row in overview.renewals_per_day(PERIOD, "EUR")] == [0, 1, 0]


def test_every_status_has_exactly_one_end_state():
    grouped = [status for statuses in overview.END_STATES.values() for status in statuses]
    assert sorted(grouped) == sorted(S.values)


def test_fulfilment_per_provider_with_median_and_p95(orders):
    rows = {row.provider: row for row in overview.fulfilment_per_provider(PERIOD)}

    assert set(rows) == {"airhub", "esimcard"}  # TravelRoam's orders in the period were never paid
    airhub, esimcard = rows["airhub"], rows["esimcard"]
    assert (airhub.placed, airhub.completed, airhub.failed, airhub.refunded) == (3, 3, 0, 0)
    assert (esimcard.placed, esimcard.completed, esimcard.failed, esimcard.refunded) == (2, 0, 2, 1)
    # 60, 120 and 300 seconds: median 120, p95 between the 2nd and 3rd (PostgreSQL's percentile_cont)
    assert airhub.median_seconds == pytest.approx(120)
    assert airhub.p95_seconds == pytest.approx(120 + 0.9 * 180)
    assert esimcard.median_seconds is None
    assert esimcard.p95_seconds is None


def test_percentile_cont_matches_postgres_definition():
    assert overview.percentile_cont([], 0.5) is None
    assert overview.percentile_cont([7.0], 0.95) == 7.0
    assert overview.percentile_cont([4.0, 1.0, 3.0, 2.0], 0.5) == pytest.approx(2.5)


def test_orders_needing_attention_reuses_the_admin_filter(orders):
    attention = overview.orders_needing_attention(now=at(5))

    assert [order.order_id for order in attention.orders] == [orders["e2"].order_id]
    assert attention.counts["all"] == 1
    assert attention.counts["manual_review"] == 1


# --- status lookups --------------------------------------------------------------------------------


def lookups(counter: LookupCounter, moment, provider: str, seconds: float, n: int, outcome="found"):
    for _ in range(n):
        counter.record(Lookup(provider, outcome, seconds), now=moment)


def test_lookups_per_day_from_the_hourly_table():
    counter = LookupCounter()
    lookups(counter, at(1, 10, 1), "airhub", 0.040, 9)  # <= 50 ms
    lookups(counter, at(1, 10, 59), "airhub", 0.600, 1, outcome="error:timeout")  # 500-750 ms
    lookups(counter, at(1, 11, 30), "airhub", 0.150, 10, outcome="not_found")  # 100-200 ms, an answer
    lookups(counter, at(2, 0, 0), "travelroam", 20.0, 2, outcome="error:unavailable")  # beyond 15 s
    lookups(counter, at(4, 0, 0), "airhub", 0.04, 3)  # after the period
    assert counter.flush() == 25

    assert ProviderLookupHour.objects.get(provider="airhub", hour=at(1, 10)).calls == 10
    rows = overview.lookups_per_day(PERIOD)
    assert [(row.provider, row.day, row.calls, row.failures) for row in rows] == [
        ("airhub", D1, 20, 1),
        ("travelroam", D2, 2, 2),
    ]
    airhub, travelroam = rows
    assert airhub.availability == pytest.approx(0.95)
    # rank 19 of 20: the 10th of the ten lookups in the 100-200 ms bucket, after 9 faster ones
    assert airhub.p95_ms == pytest.approx(200.0)
    assert overview.histogram_quantile(0.5, airhub.buckets) == pytest.approx(110.0)
    assert travelroam.availability == 0.0
    assert travelroam.p95_ms == 15000.0  # the last finite bound, as Prometheus answers


def test_counts_from_several_processes_add_up():
    """Two processes (two counters) write the same hour: the row holds both, nothing overwritten."""
    first, second = LookupCounter(), LookupCounter()
    lookups(first, at(1, 10), "esimcard", 0.04, 3)
    lookups(second, at(1, 10, 30), "esimcard", 0.9, 2, outcome="error:timeout")
    first.flush()
    second.flush()
    lookups(first, at(1, 10, 45), "esimcard", 0.04, 1)
    first.flush()

    row = ProviderLookupHour.objects.get(provider="esimcard", hour=at(1, 10))
    assert (row.calls, row.failures) == (6, 2)
    assert row.buckets[bucket_index(0.04)] == 4
    assert row.buckets[bucket_index(0.9)] == 2
    assert row.seconds_sum == pytest.approx(4 * 0.04 + 2 * 0.9)


def test_a_failed_write_keeps_the_counts(monkeypatch):
    counter = LookupCounter()
    lookups(counter, at(1, 10), "airhub", 0.04, 2)

    def broken(items):
        raise RuntimeError("database down")

    monkeypatch.setattr("pulse.services.lookup_stats.write_counts", broken)
    with pytest.raises(RuntimeError):
        counter.flush()
    assert counter.pending() == 2
    monkeypatch.undo()
    assert counter.flush() == 2
    assert ProviderLookupHour.objects.get(provider="airhub").calls == 2


def test_every_lookup_of_a_status_check_is_counted(settings):
    """The hook wiring: a real status check through the sandbox providers lands in the table."""
    from pulse.services import lookup_stats
    from pulse.services.status import esim_status_check
    from pulse.tests.staff_helpers import DEMO_ICCID

    lookup_stats.counter.take()  # what earlier tests in this process counted
    esim_status_check(iccid=DEMO_ICCID, use_cache=False)
    lookup_stats.counter.flush()

    providers = set(ProviderLookupHour.objects.values_list("provider", flat=True))
    assert "travelroam" in providers  # the demo eSIM lives there
    assert sum(ProviderLookupHour.objects.values_list("calls", flat=True)) >= 1


def test_the_job_prunes_old_hours(settings):
    from pulse.services import jobs

    settings.LOOKUP_STATS_RETENTION_DAYS = 30
    write_counts([(("airhub", at(1, 10)), _counts(1))])
    recent = overview.datetime.now(overview.UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        hours=1
    )
    write_counts([(("airhub", recent), _counts(1))])

    outcome = jobs.run_job("lookup_stats")

    assert outcome is not None
    assert outcome.ok
    assert list(ProviderLookupHour.objects.values_list("hour", flat=True)) == [recent]


def _counts(n: int):
    from pulse.services.lookup_stats import HourCounts

    counts = HourCounts()
    for _ in range(n):
        counts.add(0.04, False)
    return counts


# --- usage alerts ---------------------------------------------------------------------------------


def test_alert_conversion_of_the_period_from_real_rows():
    renewed, late, outside = "8944000000000001009", "8944000000000001017", "8944000000000001025"
    alert_email_sent(renewed, at(1, 8), thresholds=("data_100", "data_80"))  # one e-mail
    make_order(created_at=at(7, 9), iccid=renewed, paid_at=at(7, 9))  # 6 days later: followed
    alert_email_sent(late, at(2, 8))
    make_order(created_at=at(10, 9), iccid=late, paid_at=at(10, 9))  # 8 days later: not followed
    alert_email_sent(outside, at(4, 0, 0, 0))  # the first moment after the period
    make_order(created_at=at(4, 1), iccid=outside, paid_at=at(4, 1))

    figures = overview.alert_conversion(PERIOD)

    assert figures.problem == ""
    assert (figures.conversion.alerts_sent, figures.conversion.followed_by_renewal) == (2, 1)
    assert figures.conversion.share == 0.5


def test_alert_conversion_without_alerts_has_no_share():
    figures = overview.alert_conversion(PERIOD)

    assert (figures.conversion.alerts_sent, figures.conversion.share) == (0, None)


def test_the_first_unwritten_lookup_starts_one_timer_that_writes(settings, monkeypatch):
    """Off the request path: recording only starts a timer; the timer thread does the writing."""
    import threading

    settings.LOOKUP_STATS_FLUSH_SECONDS = 0.05
    counter = LookupCounter()
    written = threading.Event()
    writes = []

    def fake_write(items):
        writes.append(sum(counts.calls for _, counts in items))
        written.set()

    monkeypatch.setattr("pulse.services.lookup_stats.write_counts", fake_write)
    monkeypatch.setattr("pulse.services.lookup_stats.connections.close_all", lambda: None)
    lookups(counter, at(1, 10), "airhub", 0.04, 3)  # one timer for all three

    assert written.wait(5)
    assert writes == [3]
    assert counter.pending() == 0


def test_a_failing_alerts_selector_does_not_take_the_overview_down(monkeypatch, caplog):
    def alert_renewal_conversion(since, until):
        raise RuntimeError("bug in the alerts selector")

    monkeypatch.setattr(alerts, "alert_renewal_conversion", alert_renewal_conversion)

    result = overview.alert_conversion(PERIOD)

    assert result.conversion is None
    assert "failed" in result.problem
    assert "usage-alert figures failed" in caplog.text
