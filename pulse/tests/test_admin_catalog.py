"""Catalogue, exchange rates, known eSIMs and webhook events in the admin (Django test client)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from pulse.models import Bundle, CatalogSync, ExchangeRate, KnownEsim, PaymentEvent
from pulse.services.catalog import catalog_sync
from pulse.tests.staff_helpers import (
    DEMO_BUNDLE,
    DEMO_ICCID,
    customer_client_fixture,  # noqa: F401
    paid_order,
    sandbox_world_fixture,  # noqa: F401
    staff_client_fixture,  # noqa: F401
    staff_user_fixture,  # noqa: F401
)

pytestmark = pytest.mark.django_db

BUNDLES = "/admin/pulse/bundle/"


@pytest.fixture(name="demo_bundle")
def demo_bundle_fixture(sandbox_world) -> Bundle:
    """The TravelRoam catalogue synced from the simulator; its Turkey 1GB/7D bundle costs 1.23 USD."""
    catalog_sync(provider="travelroam")
    return Bundle.objects.get(provider="travelroam", code=DEMO_BUNDLE)


def override(client: Client, bundle: Bundle, amount: str, currency: str):
    return client.post(
        f"{BUNDLES}{bundle.pk}/change/", {"retail_price_override": amount, "override_currency": currency}
    )


# --- bundles -------------------------------------------------------------------------------------


def test_the_bundle_list_shows_the_retail_price_from_cost_and_markup(demo_bundle, staff_client):
    response = staff_client.get(BUNDLES, {"q": DEMO_BUNDLE})
    assert [b.code for b in response.context["cl"].result_list] == [DEMO_BUNDLE]
    content = response.content.decode()
    for text in ("TravelRoam", DEMO_BUNDLE, "1.00 GB", "1.2300", "$1.60"):
        assert text in content, text
    assert "(override)" not in content


def test_bundle_filters(demo_bundle, staff_client):
    Bundle.objects.filter(pk=demo_bundle.pk).update(
        retail_price_override=Decimal("2.00"), override_currency="USD"
    )
    overridden = staff_client.get(BUNDLES, {"override": "yes"}).context["cl"].result_list
    assert [b.code for b in overridden] == [DEMO_BUNDLE]
    airhub = staff_client.get(BUNDLES, {"provider__exact": "airhub"}).context["cl"].result_list
    assert all(b.provider == "airhub" for b in airhub)
    assert DEMO_BUNDLE not in [
        b.code for b in staff_client.get(BUNDLES, {"override": "no"}).context["cl"].result_list
    ]


def test_staff_can_set_a_price_override_and_the_list_shows_it(demo_bundle, staff_client):
    response = override(staff_client, demo_bundle, "2.50", "eur")
    assert response.status_code == 302
    demo_bundle.refresh_from_db()
    assert (demo_bundle.retail_price_override, demo_bundle.override_currency) == (Decimal("2.50"), "EUR")
    assert demo_bundle.cost == Decimal("1.23")  # catalogue fields stay as synced
    listed = staff_client.get(BUNDLES, {"q": DEMO_BUNDLE}).content.decode()
    assert "(override)" in listed


@pytest.mark.parametrize(
    ("amount", "currency", "errors"),
    [
        ("-1", "USD", {"retail_price_override": ["The override must be more than zero."]}),
        ("0", "USD", {"retail_price_override": ["The override must be more than zero."]}),
        ("2.50", "", {"override_currency": ["Say which currency the override is in."]}),
        ("150.5", "JPY", {"retail_price_override": ["JPY has 0 decimal places; 150.5 has more."]}),
        (
            "2.50",
            "XYZ",
            {
                "override_currency": [
                    "Unknown currency XYZ; use one of USD, EUR, GBP, CHF, CAD, AUD, JPY, TRY, INR, AED."
                ]
            },
        ),
        ("abc", "USD", {"retail_price_override": ["Enter a number."]}),
    ],
)
def test_a_bad_override_is_refused_with_a_message(demo_bundle, staff_client, amount, currency, errors):
    response = override(staff_client, demo_bundle, amount, currency)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    demo_bundle.refresh_from_db()
    assert demo_bundle.retail_price_override is None


def test_clearing_the_override_clears_its_currency(demo_bundle, staff_client):
    Bundle.objects.filter(pk=demo_bundle.pk).update(
        retail_price_override=Decimal("2.00"), override_currency="USD"
    )
    assert override(staff_client, demo_bundle, "", "USD").status_code == 302
    demo_bundle.refresh_from_db()
    assert (demo_bundle.retail_price_override, demo_bundle.override_currency) == (None, "")


def test_bundles_are_not_added_or_deleted_in_the_admin(demo_bundle, staff_client):
    assert staff_client.get(f"{BUNDLES}add/").status_code == 403
    assert staff_client.post(f"{BUNDLES}{demo_bundle.pk}/delete/", {"post": "yes"}).status_code == 403


# --- read-only records ---------------------------------------------------------------------------


def test_sync_runs_rates_and_known_esims_are_read_only(sandbox_world, staff_client):
    catalog_sync(provider="travelroam")
    sync = CatalogSync.objects.filter(provider="travelroam").first()
    rate = ExchangeRate.objects.create(
        base="USD", quote="EUR", rate=Decimal("0.92"), fetched_at=timezone.now()
    )
    known = KnownEsim.objects.create(iccid=DEMO_ICCID, provider="travelroam", reference=DEMO_ICCID)
    for url in (
        f"/admin/pulse/catalogsync/{sync.pk}/change/",
        f"/admin/pulse/exchangerate/{rate.pk}/change/",
        f"/admin/pulse/knownesim/{known.pk}/change/",
    ):
        page = staff_client.get(url)
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
        assert staff_client.post(url, {}).status_code == 403
    assert staff_client.get("/admin/pulse/exchangerate/add/").status_code == 403
    assert "0.92" in staff_client.get("/admin/pulse/exchangerate/").content.decode()
    assert "ok" in staff_client.get("/admin/pulse/catalogsync/").content.decode().lower()


def test_known_esims_are_listed_with_masked_iccids_and_found_by_the_full_one(sandbox_world, staff_client):
    KnownEsim.objects.create(iccid=DEMO_ICCID, provider="travelroam", reference=DEMO_ICCID)
    KnownEsim.objects.create(
        iccid="8944000000000000100", provider="airhub", reference="AH-ORDER-1|2025-01-02"
    )
    content = staff_client.get("/admin/pulse/knownesim/").content.decode()
    assert "893204*********5583" in content
    assert DEMO_ICCID not in content
    assert "AH-ORDER-1|2025-01-02" in content
    found = staff_client.get("/admin/pulse/knownesim/", {"q": DEMO_ICCID}).context["cl"].result_list
    assert [k.provider for k in found] == ["travelroam"]


def test_webhook_events_show_their_payload_pretty_and_read_only(sandbox_world, staff_client):
    order = paid_order(sandbox_world)
    event = PaymentEvent.objects.get(order=order)
    listed = staff_client.get("/admin/pulse/paymentevent/", {"q": order.order_id})
    assert [e.event_id for e in listed.context["cl"].result_list] == [event.event_id]

    page = staff_client.get(f"/admin/pulse/paymentevent/{event.pk}/change/")
    content = page.content.decode()
    assert '<pre class="pulse-json"' in content
    assert "\n  &quot;type&quot;: &quot;checkout.session.completed&quot;" in content
    assert staff_client.post(f"/admin/pulse/paymentevent/{event.pk}/change/", {}).status_code == 403


def test_none_of_it_is_visible_to_non_staff(demo_bundle, customer_client):
    for url in (
        BUNDLES,
        "/admin/pulse/catalogsync/",
        "/admin/pulse/exchangerate/",
        "/admin/pulse/knownesim/",
        "/admin/pulse/paymentevent/",
        f"{BUNDLES}{demo_bundle.pk}/change/",
    ):
        response = customer_client.get(url)
        assert (response.status_code, response["Location"].split("?")[0]) == (302, "/admin/login/"), url
