"""The staff overview page and the eSIM support page over the Django test client (docs/operations.md).

The overview's tables are read back from the HTML and compared with the known orders; the support
page runs a real status check against the sandbox providers; "Show install code" is refused (403)
without the dedicated permission, audited with it, never cached and never logged.
"""

from __future__ import annotations

import logging
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from pulse.models import AlertSubscription, InstallCodeShown, OrderAuditEntry
from pulse.tests.alert_helpers import alert_email_sent
from pulse.tests.overview_helpers import at, known_orders, make_order

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/overview/"
SUPPORT = "/admin/esim-support/"
INSTALL = "/admin/esim-support/install-code/"
MARCH = "?since=2026-03-01&until=2026-03-03"
DEMO_ICCID = "8932042000010245583"  # the sandbox's TravelRoam demo eSIM
DEMO_MATCHING_ID = "SBX00-DEMO0-TURKY-00001"  # the secret half of its install code
PASSWORD = "pw-for-tests-only"


class Tables(HTMLParser):
    """Rows of cell texts of every <table data-testid=…> in a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("data-testid"):
            self._table = attrs["data-testid"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def body_rows(html: str, testid: str) -> list[list[str]]:
    """The table's rows without its header row."""
    return Tables(html).tables[testid][1:]


def user(username: str, *, staff: bool = True, perms: tuple[str, ...] = ()) -> Client:
    account = get_user_model().objects.create_user(
        username, f"{username}@example.com", PASSWORD, is_staff=staff
    )
    for codename in perms:
        account.user_permissions.add(
            Permission.objects.get(content_type__app_label="pulse", codename=codename)
        )
    client = Client()
    client.force_login(account)
    return client


@pytest.fixture
def superuser_client() -> Client:
    account = get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)
    client = Client()
    client.force_login(account)
    return client


# --- overview -------------------------------------------------------------------------------------


def known_alerts() -> None:
    """Alert e-mails around 1-3 March 2026 for two eSIMs other than the orders' (their renewals are
    paid after the period, so the order tables do not change)."""
    renewed, ignored = "8944000000000001009", "8944000000000001017"
    alert_email_sent(renewed, at(3, 20), thresholds=("data_100", "data_80"))  # one e-mail, two thresholds
    make_order(created_at=at(4, 9), iccid=renewed, paid_at=at(4, 10))  # 14 hours later: followed
    alert_email_sent(ignored, at(2, 10))
    make_order(created_at=at(10, 11), iccid=ignored, paid_at=at(10, 11))  # 8 days later: too late
    alert_email_sent(ignored, at(28, 10, month=2))  # before the period


def test_overview_tables_match_the_orders(superuser_client):
    known_orders()
    known_alerts()

    response = superuser_client.get(OVERVIEW + MARCH)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert body_rows(html, "revenue-table") == [
        ["2026-03-01", "USD", "$10.00", "1", "$4.00", "1", "$6.00"],
        ["2026-03-02", "EUR", "€15.00", "1", "€0.00", "0", "€15.00"],
        ["2026-03-02", "USD", "$25.00", "2", "$0.00", "0", "$25.00"],
        ["2026-03-03", "USD", "$7.00", "1", "$5.00", "1", "$2.00"],
    ]
    assert body_rows(html, "revenue-totals") == [
        ["EUR", "€15.00", "€0.00", "€15.00"],
        ["USD", "$42.00", "$9.00", "$33.00"],
    ]
    # Completed, Refunded, Needs staff, In progress, Not paid, Total
    assert body_rows(html, "renewals-table") == [
        ["2026-03-01", "2", "0", "0", "0", "0", "2"],
        ["2026-03-02", "1", "1", "0", "0", "0", "2"],
        ["2026-03-03", "0", "0", "1", "1", "1", "3"],
    ]
    assert body_rows(html, "fulfilment-table") == [
        ["AirHub", "3", "3", "0", "0", "2.0 min", "4.7 min"],
        ["eSIMCard", "2", "0", "2", "1", "—", "—"],
    ]
    # 2 alert e-mails in the period (the second threshold of one e-mail and the one sent before the
    # period do not count), one followed by a paid renewal within 7 days
    assert Tables(html).tables["alerts-table"] == [
        ["Alert e-mails sent", "2"],
        ["Followed by a paid renewal of that eSIM within 7 days", "1"],
        ["Share followed by a renewal", "50 %"],
    ]
    assert 'src="/static/pulse/vendor/chartjs/chart.umd.min.js"' in html  # our own copy, no CDN


def test_overview_queries_do_not_grow_with_the_orders(superuser_client):
    """Every figure is aggregated in the database: more orders, not more queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pulse.tests.overview_helpers import seed_orders

    known_orders()
    with CaptureQueriesContext(connection) as few:
        superuser_client.get(OVERVIEW + MARCH)
    seed_orders(200, now=at(3, 23), days=3)
    with CaptureQueriesContext(connection) as many:
        response = superuser_client.get(OVERVIEW + MARCH)

    assert response.status_code == 200
    assert len(many) == len(few) <= 12


def test_overview_for_one_currency(superuser_client):
    known_orders()

    html = superuser_client.get(OVERVIEW + MARCH + "&currency=EUR").content.decode()

    assert body_rows(html, "revenue-table") == [["2026-03-02", "EUR", "€15.00", "1", "€0.00", "0", "€15.00"]]
    assert body_rows(html, "fulfilment-table") == [["AirHub", "1", "1", "0", "0", "5.0 min", "5.0 min"]]


def test_overview_lists_the_orders_that_need_attention_with_links(superuser_client):
    orders = known_orders()

    html = superuser_client.get(OVERVIEW + MARCH).content.decode()

    rows = body_rows(html, "attention-table")
    assert [row[0] for row in rows] == [orders["e2"].order_id]
    assert f'href="/admin/pulse/renewalorder/{orders["e2"].pk}/change/"' in html
    assert 'href="/admin/pulse/renewalorder/?attention=all"' in html


def test_overview_lookup_table(superuser_client):
    from providers.observe import Lookup
    from pulse.services.lookup_stats import LookupCounter

    counter = LookupCounter()
    for _ in range(3):
        counter.record(Lookup("airhub", "found", 0.04), now=at(2, 10))
    counter.record(Lookup("airhub", "error:timeout", 0.9), now=at(2, 11))
    counter.flush()

    html = superuser_client.get(OVERVIEW + MARCH).content.decode()

    # p95: rank 3.8 of 4 falls in the 750-1000 ms bucket, 0.8 of the way: 950 ms
    assert body_rows(html, "lookups-table") == [["AirHub", "2026-03-02", "4", "1", "75.00 %", "950 ms"]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?since=2026-03-05&until=2026-03-01", "must not be after"),
        ("?since=2020-01-01&until=2026-03-01", "at most 366 days"),
        ("?since=yesterday", "Enter a valid date"),
        ("?currency=XXX", "Select a valid choice"),
        ("?since=1999-12-31&until=2000-01-02", "after 2000-01-01"),
    ],
)
def test_overview_refuses_a_bad_period_or_currency(superuser_client, query, message):
    response = superuser_client.get(OVERVIEW + query)

    assert response.status_code == 200  # the default period is shown under the error
    assert message in response.content.decode()


def test_overview_is_for_staff_who_may_see_orders():
    assert user("outsider", staff=False).get(OVERVIEW).status_code == 302  # to the admin login
    assert user("nosy").get(OVERVIEW).status_code == 403  # staff, but may not see orders
    assert user("viewer", perms=("view_renewalorder",)).get(OVERVIEW).status_code == 200


def test_the_admin_home_page_links_both_pages(superuser_client):
    html = superuser_client.get("/admin/").content.decode()
    assert f'href="{OVERVIEW}"' in html
    assert f'href="{SUPPORT}"' in html
    assert f'href="{OVERVIEW}"' not in user("nosy").get("/admin/").content.decode()  # may not see orders


# --- eSIM support page ----------------------------------------------------------------------------


def test_support_page_shows_live_status_orders_and_audit_trail(superuser_client):
    order = make_order(created_at=at(1), provider="travelroam", iccid=DEMO_ICCID)
    OrderAuditEntry.objects.create(
        order=order, source="webhook", action="paid", from_status="PENDING", to_status="PAID"
    )

    response = superuser_client.get(SUPPORT, {"iccid": DEMO_ICCID})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    status = {row[0]: row[1] for row in Tables(html).tables["status-table"]}
    assert status["Provider"] == "TRAVELROAM"
    assert status["Plan"]
    assert body_rows(html, "sources-table")[-1][:2] == ["TravelRoam", "found"]
    assert order.order_id in html
    assert body_rows(html, "audit-trail")[0][2:6] == ["webhook", "paid", "PENDING", "PAID"]
    assert DEMO_MATCHING_ID not in html  # the status check never shows the secret half


def test_overview_says_when_no_alert_was_sent(superuser_client):
    html = superuser_client.get(OVERVIEW + MARCH).content.decode()

    assert Tables(html).tables["alerts-table"][-1] == ["Share followed by a renewal", "—"]


def test_overview_shows_a_failing_alerts_selector_in_its_section_only(superuser_client, monkeypatch, caplog):
    def broken(since, until):
        raise RuntimeError("bug in the alerts selector")

    monkeypatch.setattr("pulse.selectors.alerts.alert_renewal_conversion", broken)
    known_orders()

    with caplog.at_level(logging.ERROR):
        response = superuser_client.get(OVERVIEW + MARCH)

    assert response.status_code == 200
    html = response.content.decode()
    assert "The usage-alert figures failed (see the log)." in html
    assert "alerts-table" not in html
    assert body_rows(html, "revenue-totals")  # the rest of the page is there
    assert "usage-alert figures failed" in caplog.text


def test_support_page_lists_alert_subscriptions_with_masked_addresses(superuser_client):
    from datetime import timedelta

    from django.utils import timezone

    from pulse.models.alerts import EndReason

    now = timezone.now()
    AlertSubscription.objects.create(
        iccid=DEMO_ICCID,
        email="traveller@example.com",
        thresholds=["data_80", "expired"],
        nonce="n",
        confirmed_at=now - timedelta(days=2),
        last_scan_at=now - timedelta(hours=1),
        last_status="ACTIVE",
    )
    AlertSubscription.objects.create(
        iccid=DEMO_ICCID,
        email="",  # ended: the address is deleted
        thresholds=["data_100"],
        nonce="m",
        ended_at=now - timedelta(days=1),
        end_reason=EndReason.UNSUBSCRIBED,
    )
    AlertSubscription.objects.create(iccid="8944000000000001009", email="other@example.com", nonce="o")

    html = superuser_client.get(SUPPORT, {"iccid": DEMO_ICCID}).content.decode()

    rows = body_rows(html, "subscriptions")
    assert len(rows) == 2
    ended, live = sorted(rows, key=lambda row: row[0])  # "(deleted)" before "t***@…"
    assert live[:2] == ["t***@example.com", "Plan expired, 80 % of the data used"]
    assert live[3] != "not yet"
    assert live[4].endswith("(ACTIVE)")
    assert live[6] == "—"
    assert ended[0] == "(deleted)"
    assert ended[3] == "not yet"
    assert ended[6].endswith(": Unsubscribed")
    assert "traveller@example.com" not in html
    assert "other@example.com" not in html
    assert "o***@" not in html


@pytest.mark.parametrize("term", ["5583", "8932 0420 0001 0245 583", "order"])
def test_support_page_finds_the_esim_by_last_digits_full_iccid_or_order_id(superuser_client, term):
    order = make_order(created_at=at(1), provider="travelroam", iccid=DEMO_ICCID)
    term = order.order_id if term == "order" else term

    html = superuser_client.get(SUPPORT, {"iccid": term}).content.decode()

    assert f"ICCID {DEMO_ICCID}" in html


def test_support_page_lists_candidates_when_last_digits_match_several(superuser_client):
    make_order(created_at=at(1), iccid="8944000000000000100")
    make_order(created_at=at(1), iccid="8944000000000010100")

    html = superuser_client.get(SUPPORT, {"iccid": "0100"}).content.decode()

    assert "Several eSIMs end in those digits" in html
    assert "8944000000000000100" in html
    assert "8944000000000010100" in html


@pytest.mark.parametrize(
    ("term", "problem"), [("12", "at least the last 4"), ("drop table", "Type an ICCID")]
)
def test_support_page_explains_a_bad_search(superuser_client, term, problem):
    html = superuser_client.get(SUPPORT, {"iccid": term}).content.decode()
    assert problem in html


# --- install code ---------------------------------------------------------------------------------


def test_install_code_needs_the_dedicated_permission():
    viewer = user("helper", perms=("view_renewalorder",))

    response = viewer.post(INSTALL, {"iccid": DEMO_ICCID})

    assert response.status_code == 403
    assert InstallCodeShown.objects.count() == 0
    # and the page does not offer the button
    assert "Show install code" not in viewer.get(SUPPORT, {"iccid": DEMO_ICCID}).content.decode()


def test_install_code_is_shown_audited_and_not_stored(caplog):
    make_order(created_at=at(1), provider="travelroam", iccid=DEMO_ICCID)
    helper = user("helper", perms=("view_renewalorder", "view_install_code"))
    caplog.set_level(logging.DEBUG)

    response = helper.post(INSTALL, {"iccid": DEMO_ICCID})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    start = html.index('data-testid="install-lpa">') + len('data-testid="install-lpa">')
    lpa = html[start : html.index("</code>", start)]
    assert lpa.startswith("LPA:1$")
    assert lpa.endswith(f"${DEMO_MATCHING_ID}")
    assert "<svg" in html
    assert f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={quote(lpa, safe='')}" in html
    shown = InstallCodeShown.objects.get()
    assert (shown.actor_username, shown.iccid_masked, shown.provider, shown.outcome) == (
        "helper",
        "893204*********5583",
        "travelroam",
        "shown",
    )
    assert DEMO_MATCHING_ID not in caplog.text  # never logged, by us or the provider client
    assert any(
        "install code of 893204*********5583 shown to helper" in r.getMessage() for r in caplog.records
    )
    assert DEMO_MATCHING_ID not in str(list(InstallCodeShown.objects.values()))


def test_each_showing_is_a_row_in_the_audit_trail():
    make_order(created_at=at(1), provider="travelroam", iccid=DEMO_ICCID)
    helper = user("helper", perms=("view_renewalorder", "view_install_code"))

    helper.post(INSTALL, {"iccid": DEMO_ICCID})
    helper.post(INSTALL, {"iccid": DEMO_ICCID})

    assert InstallCodeShown.objects.filter(actor_username="helper", outcome="shown").count() == 2
    html = helper.get(SUPPORT, {"iccid": DEMO_ICCID}).content.decode()
    assert [row[1] for row in body_rows(html, "install-trail")] == ["helper", "helper"]


def test_install_code_of_an_esim_no_provider_holds_is_refused_and_audited():
    helper = user("helper", perms=("view_install_code",))

    response = helper.post(INSTALL, {"iccid": "8944000000000000605"})

    assert response.status_code == 503
    assert "no install code" in response.content.decode()
    assert InstallCodeShown.objects.get().outcome == "unavailable"


def test_install_code_needs_post_and_csrf():
    helper = user("helper", perms=("view_install_code",))
    assert helper.get(INSTALL, {"iccid": DEMO_ICCID}).status_code == 405

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(get_user_model().objects.get(username="helper"))
    assert strict.post(INSTALL, {"iccid": DEMO_ICCID}).status_code == 403
    assert InstallCodeShown.objects.count() == 0


def test_install_code_refuses_a_bad_iccid():
    helper = user("helper", perms=("view_install_code",))

    response = helper.post(INSTALL, {"iccid": "not-an-iccid\x00"})

    assert response.status_code == 400
    assert InstallCodeShown.objects.count() == 0


def test_the_showings_are_listed_read_only_in_the_admin(superuser_client):
    make_order(created_at=at(1), provider="travelroam", iccid=DEMO_ICCID)
    superuser_client.post(INSTALL, {"iccid": DEMO_ICCID})

    html = superuser_client.get("/admin/pulse/installcodeshown/").content.decode()

    assert "893204*********5583" in html
    assert "boss" in html
    assert DEMO_MATCHING_ID not in html
    assert superuser_client.get("/admin/pulse/installcodeshown/add/").status_code == 403
