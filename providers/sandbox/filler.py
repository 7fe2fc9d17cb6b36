"""Synthetic (seeded, deterministic) filler accounts so benchmarks can compare small and 10,000-eSIM accounts.

Filler ICCIDs start with 8988 plus a provider tag (01 AirHub, 02 eSIMCard, 03 TravelRoam), so they are unique
and never collide with the demo ICCIDs (8932.../8944...).
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from providers.sandbox.iccids import make_iccid
from providers.sandbox.models import AirHubOrder, CardPackage, CardSim
from providers.sandbox.travelroam_models import TrAssignment, TrEsim

if TYPE_CHECKING:
    from providers.sandbox.dataset import Dataset

AIRHUB_PREFIX = "898801"
ESIMCARD_PREFIX = "898802"
TRAVELROAM_PREFIX = "898803"


def make_rng(seed: int) -> random.Random:
    # Not for security: a seeded PRNG keeps every world with the same seed identical.
    return random.Random(seed)


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def matching_id(rng: random.Random) -> str:
    raw = f"{rng.getrandbits(80):020X}"
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def add_airhub_orders(data: Dataset, rng: random.Random, count: int) -> None:
    """``count`` orders spread between 5 and 110 days ago: newer than the old demo order, older than the others."""
    now = data.created_at
    plans = list(data.airhub_plans.values())
    span = timedelta(days=105)
    for index in range(count):
        purchased = now - timedelta(days=5) - span * (index + 1) / (count + 1)
        plan = rng.choice(plans)
        active = now - purchased < timedelta(days=plan.validity_days)
        consumed = int(plan.capacity_gb * 1_000_000_000 * rng.random()) if active else None
        data.add_airhub_order(
            AirHubOrder(
                order_id=str(3_000_000 + index),
                iccid=make_iccid(AIRHUB_PREFIX, index + 1),
                plan=plan,
                purchased_at=purchased.replace(microsecond=0),
                is_active=active,
                consumed_bytes=consumed,
                matching_id=matching_id(rng),
            )
        )


def add_card_sims(data: Dataset, rng: random.Random, count: int) -> None:
    """eSIMCard eSIMs created over the last year, each with one package (in use or completed)."""
    now = data.created_at
    package_types = [item for item in data.card_packages.values() if item.data_bytes is not None]
    for index in range(count):
        created = (now - timedelta(days=365) * (count - index) / (count + 1)).replace(microsecond=0)
        package_type = rng.choice(package_types)
        activated = created + timedelta(hours=1)
        expires = activated + timedelta(days=package_type.validity_days)
        initial = package_type.data_bytes or 0
        package = CardPackage(
            id=random_uuid(rng),
            package_type_id=package_type.id,
            name=package_type.name,
            initial_bytes=initial,
            remaining_bytes=int(initial * rng.random()),
            data_unit=package_type.data_unit,
            created_at=created,
            activated_at=activated,
            expires_at=expires,
            bucket="in_use" if expires > now else "completed",
        )
        sim = CardSim(
            id=random_uuid(rng),
            iccid=make_iccid(ESIMCARD_PREFIX, index + 1),
            created_at=created,
            status=rng.choice(("Installed", "Installed", "Released")),
            matching_id=matching_id(rng),
            packages=[package],
        )
        data.add_card_sim(sim)


def _tr_state(bundle_days: int, start_age_days: float, remaining: int) -> str:
    if start_age_days > bundle_days:
        return "expired"
    return "depleted" if remaining == 0 else "active"


def add_tr_esims(data: Dataset, rng: random.Random, count: int) -> None:
    """TravelRoam eSIMs with one started bundle each (active, depleted or expired)."""
    now = data.created_at
    bundles = [bundle for bundle in data.tr_bundles.values() if bundle.description and not bundle.unlimited]
    for index in range(count):
        bundle = rng.choice(bundles)
        start_age = rng.uniform(0.1, 60.0)
        start = (now - timedelta(days=start_age)).replace(microsecond=0)
        remaining = 0 if rng.random() < 0.2 else int(bundle.data_bytes * rng.random())
        assignment = TrAssignment(
            id=str(216_000_000 + index),
            reference=f"{random_uuid(rng)}-0",
            bundle_name=bundle.name,
            description=bundle.description,
            initial_bytes=bundle.data_bytes,
            remaining_bytes=remaining,
            assigned_at=start - timedelta(minutes=5),
            start_at=start,
            end_at=start + timedelta(days=bundle.duration),
            state=_tr_state(bundle.duration, start_age, remaining),
        )
        data.add_tr_esim(
            TrEsim(
                iccid=make_iccid(TRAVELROAM_PREFIX, index + 1),
                matching_id=matching_id(rng),
                profile_status="Installed",
                first_installed_ms=int(start.timestamp() * 1000),
                assignments=[assignment],
            )
        )
