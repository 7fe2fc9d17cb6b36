"""The alert scanner never makes more than ALERT_PROVIDER_BUDGET provider lookups per minute, whatever
the number of subscriptions (issue 13). Counted at the simulators: every status check asks TravelRoam's
`esims/details` exactly once, so its request count is the number of lookups made."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from providers.sandbox.iccids import make_iccid
from providers.sandbox.travelroam_models import TrAssignment, TrEsim
from pulse.models import AlertSubscription
from pulse.services.alert_scan import scan_alerts
from pulse.services.status import esim_status_check
from pulse.tests.alert_helpers import alerts_env_fixture  # noqa: F401 - registers the fixture
from pulse.tests.catalog_helpers import request_count

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("alerts_env")]

SUBSCRIPTIONS = 1000
BUDGET = 20
DETAILS = "/esims/details"


def _add_esims(world, count: int) -> list[str]:
    """`count` TravelRoam eSIMs mid-plan, 20 % used (no alert due)."""
    now = timezone.now()
    iccids = [make_iccid("8944990", serial) for serial in range(1, count + 1)]
    with world.edit():
        for number, iccid in enumerate(iccids):
            world.data.add_tr_esim(
                TrEsim(
                    iccid=iccid,
                    matching_id=f"SBX00-BUDGT-{number:011d}",
                    profile_status="Installed",
                    assignments=[
                        TrAssignment(
                            id=str(900000 + number),
                            reference=f"budget-{number}-0",
                            bundle_name="esim_1GB_7D_DE_V2",
                            description="eSIM, 1GB, 7 Days, Germany, V2",
                            initial_bytes=1_000_000_000,
                            remaining_bytes=800_000_000,
                            assigned_at=now - timedelta(days=1),
                            start_at=now - timedelta(days=1),
                            end_at=now + timedelta(days=6),
                            state="active",
                        )
                    ],
                )
            )
    return iccids


def _details(world) -> int:
    return world.stats()["requests"].get("travelroam", {}).get(DETAILS, 0)


def test_a_1000_subscription_scan_stays_within_the_provider_budget(alerts_env, settings):
    settings.ALERT_PROVIDER_BUDGET = BUDGET
    world = alerts_env
    probe, *iccids = _add_esims(world, SUBSCRIPTIONS + 1)
    # What one lookup costs at most (a first check also logs in and builds the eSIMCard index).
    before = request_count(world)
    esim_status_check(iccid=probe)
    per_lookup = request_count(world) - before
    now = timezone.now().replace(second=0, microsecond=0)  # the passes below share or skip a minute
    AlertSubscription.objects.bulk_create(
        AlertSubscription(
            iccid=iccid,
            email=f"person{n}@example.com",
            thresholds=["data_80"],
            nonce=f"{n:032d}",
            confirmed_at=now,
            next_scan_at=now - timedelta(seconds=n),
        )
        for n, iccid in enumerate(iccids)
    )
    details_before, requests_before = _details(world), request_count(world)

    first = scan_alerts(now=now)
    assert first.lookups == BUDGET
    assert first.budget_exhausted
    assert _details(world) - details_before == BUDGET
    assert request_count(world) - requests_before <= BUDGET * per_lookup
    # The most overdue went first; the rest wait for the next pass.
    looked_at = set(
        AlertSubscription.objects.filter(last_scan_at__isnull=False).values_list("iccid", flat=True)
    )
    assert looked_at == set(iccids[-BUDGET:])

    # Another pass (or another scanner) in the same minute makes no lookup at all.
    again = scan_alerts(now=now + timedelta(seconds=20))
    assert again.lookups == 0
    assert _details(world) - details_before == BUDGET

    # The next minute brings the next BUDGET, and so on: never more.
    later = scan_alerts(now=now + timedelta(seconds=60))
    assert later.lookups == BUDGET
    assert _details(world) - details_before == 2 * BUDGET
    assert AlertSubscription.objects.filter(last_scan_at__isnull=False).count() == 2 * BUDGET
