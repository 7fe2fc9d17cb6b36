"""Issue 14, "Done when": a provider wallet drained while renewals are being paid.

The TravelRoam simulator's wallet holds enough for two top-ups of the seed bundle (1.23 USD each).
Customers keep creating, paying and confirming renewals of the seed eSIM:
- the first top-up the wallet cannot pay is refused ("Insufficient balance ..."), refunded as before,
  and pauses TravelRoam's sales; with two customers paying at the same moment at most two are refunded;
- from then on create answers 503 `renewals_paused` before any order or checkout exists;
- staff get exactly one e-mail; health is degraded; /metrics shows the pause;
- after the wallet is refilled, `manage.py check_wallets` resumes sales and the next renewal completes.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from rest_framework.test import APIClient

from pulse.models import OrderStatus, ProviderSalesPause, RenewalOrder, SandboxCheckout
from pulse.services.catalog import catalog_sync
from pulse.tests.race_helpers import exceptions_in, run_together, skip_unless_shared_database
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    OPTIONS,
    SEED_ICCID,
    confirm,
    create,
    renewal_env_fixture,
    sandbox_pay,
    sandbox_refunds,
    top_ups,
    world_fixture,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("renewal_env")]

S = OrderStatus
STAFF = ["ops@example.com", "oncall@example.com"]
TWO_TOP_UPS = "2.50"  # the seed bundle costs 1.23 USD at TravelRoam: two fit, the third does not


@pytest.fixture(autouse=True)
def _staff(settings, renewal_env):
    settings.STAFF_ALERT_EMAILS = STAFF
    settings.WALLET_WARN_BELOW = {}
    mail.outbox.clear()
    # Synced up front: concurrent first creates would race the lazy first sync (catalog.active_bundles).
    catalog_sync(provider="travelroam")


def staff_mail() -> list:
    return [message for message in mail.outbox if message.to == STAFF]


def renew(client: APIClient) -> tuple[str, object]:
    """One customer: create, pay at the checkout, come back to the success page (confirm)."""
    created = create(client)
    if created.status_code != 201:
        return "refused", created
    session_id = created.json()["payment"]["session_id"]
    sandbox_pay(session_id)
    confirmed = confirm(client, session_id)
    assert confirmed.status_code == 200, confirmed.json()
    return confirmed.json()["order"]["status"], created


def assert_paused_refusal(response) -> None:
    assert response.status_code == 503, response.json()
    body = response.json()
    assert body["code"] == "renewals_paused"
    assert "paused" in body["error"]
    assert "Nothing has been charged" in body["error"]
    assert response["Retry-After"]


def refill_and_check(world) -> str:
    world.set_wallet("travelroam", "50")
    out = StringIO()
    call_command("check_wallets", stdout=out)
    return out.getvalue()


def test_draining_the_wallet_refunds_one_order_pauses_sales_tells_staff_once_and_refill_resumes(world):
    world.set_wallet("travelroam", TWO_TOP_UPS)
    api = APIClient()

    outcomes = [renew(api)[0] for _ in range(3)]

    assert outcomes == [S.COMPLETED, S.COMPLETED, S.REFUNDED]
    assert len(top_ups()) == 2
    assert len(sandbox_refunds()) == 1  # one refund before the pause, then no more paid orders
    pause = ProviderSalesPause.objects.get(provider="travelroam")
    assert pause.paused
    assert pause.cause == ProviderSalesPause.Cause.INSUFFICIENT_FUNDS
    assert "Insufficient balance" in pause.reason

    # While paused: creates are refused before any order or checkout exists, options say why.
    orders, checkouts = RenewalOrder.objects.count(), SandboxCheckout.objects.count()
    for _ in range(3):
        status, response = renew(api)
        assert status == "refused"
        assert_paused_refusal(response)
    assert (RenewalOrder.objects.count(), SandboxCheckout.objects.count()) == (orders, checkouts)
    options = api.get(OPTIONS, {"iccid": SEED_ICCID, "currency": "USD"}).json()
    assert (options["options"], options["sales_paused"]) == ([], True)
    assert "paused" in options["message"]

    # Staff were told exactly once, with what to do; health and metrics say it too.
    [alert] = staff_mail()
    assert "travelroam" in alert.subject
    assert "paused" in alert.subject.lower()
    assert "top up the travelroam wallet" in alert.body
    assert "https://api.example.test/admin/pulse/providersalespause/" in alert.body
    health = api.get("/api/esim/health/").json()
    assert health["status"] == "degraded"
    assert health["wallets"]["travelroam"]["sales"] == "paused"
    assert health["wallets"]["airhub"]["sales"] == "open"

    # Refill + one check_wallets pass: sales resume by themselves and the next renewal completes.
    printed = refill_and_check(world)
    assert "travelroam: $50.00; sales selling (resumed now)" in printed
    pause.refresh_from_db()
    assert (pause.paused, pause.resumed_by) == (False, "check_wallets")
    assert renew(api)[0] == S.COMPLETED
    assert len(top_ups()) == 3
    assert len(sandbox_refunds()) == 1
    assert len(staff_mail()) == 1  # resuming sends nothing; the pause was told once
    assert api.get("/api/esim/health/").json()["wallets"]["travelroam"]["sales"] == "open"


def test_two_customers_paying_at_once_when_the_wallet_runs_dry_cost_at_most_two_refunds(world):
    """The race: both pass create before either top-up fails; never more than two refunds, one e-mail."""
    skip_unless_shared_database()
    world.set_wallet("travelroam", TWO_TOP_UPS)

    def customer() -> list[str]:
        client = APIClient()
        outcomes: list[str] = []
        for _ in range(6):
            status, response = renew(client)
            outcomes.append(status)
            if status == "refused":
                assert_paused_refusal(response)
                break
        return outcomes

    outcomes = run_together([customer, customer], timeout=120)
    assert not exceptions_in(outcomes), outcomes

    everything = outcomes[0] + outcomes[1]
    assert everything.count(S.COMPLETED) == 2 == len(top_ups())
    assert 1 <= everything.count(S.REFUNDED) <= 2
    assert len(sandbox_refunds()) == everything.count(S.REFUNDED)
    assert all(run[-1] == "refused" for run in outcomes)  # both customers were stopped by the pause
    assert ProviderSalesPause.objects.get(provider="travelroam").pauses == 1
    assert len(staff_mail()) == 1

    refill_and_check(world)
    assert renew(APIClient())[0] == S.COMPLETED
