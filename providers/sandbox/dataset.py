"""The deterministic sandbox dataset: demo eSIMs (``demo.py``), catalogues and synthetic filler (``filler.py``).

All lookups used by per-eSIM endpoints are dicts; list endpoints slice pre-sorted lists.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from providers.sandbox import demo, filler
from providers.sandbox.catalogues import airhub_plans, esimcard_packages, travelroam_catalogue
from providers.sandbox.demo import DEMO_ICCIDS
from providers.sandbox.models import (
    AirHubOrder,
    AirHubPlan,
    AirHubRenewal,
    CardPackage,
    CardPackageType,
    CardSim,
)
from providers.sandbox.travelroam_models import TrBundle, TrEsim, TrOrder

AIRHUB_BASE_FILLER_ORDERS = 330  # the account always holds more than the 300 orders flag=1 returns
ESIMCARD_START_BALANCE = Decimal("100.00")
AIRHUB_START_BALANCE = Decimal("100.00")
TRAVELROAM_START_BALANCE = Decimal("100.00")


_WALLET_FIELDS = {"airhub": "airhub_balance", "esimcard": "card_balance", "travelroam": "tr_balance"}
WALLET_PROVIDERS = tuple(_WALLET_FIELDS)


@dataclass
class Dataset:
    created_at: datetime
    airhub_plans: dict[str, AirHubPlan] = field(default_factory=dict)
    airhub_orders: dict[str, AirHubOrder] = field(default_factory=dict)
    airhub_timeline: list[AirHubOrder] = field(default_factory=list)  # oldest first
    airhub_renewals: list[AirHubRenewal] = field(default_factory=list)
    card_packages: dict[str, CardPackageType] = field(default_factory=dict)
    card_sims: dict[str, CardSim] = field(default_factory=dict)  # by UUID
    card_sims_by_iccid: dict[str, CardSim] = field(default_factory=dict)
    card_sim_list: list[CardSim] = field(default_factory=list)  # oldest first; listed newest first
    card_bundles: list[CardPackage] = field(default_factory=list)  # oldest first
    card_balance: Decimal = ESIMCARD_START_BALANCE
    airhub_balance: Decimal = AIRHUB_START_BALANCE  # the reseller wallet each top-up debits
    tr_balance: Decimal = TRAVELROAM_START_BALANCE
    tr_bundles: dict[str, TrBundle] = field(default_factory=dict)  # catalogue order
    tr_esims: dict[str, TrEsim] = field(default_factory=dict)
    tr_orders: dict[str, TrOrder] = field(default_factory=dict)
    _airhub_times: list[datetime] = field(default_factory=list)
    last_number: int = 0  # a plain int (not itertools.count) so the dataset pickles for the state file
    # For ids of things bought through the sandbox; seeded so a replayed test sees the same ids.
    rng: random.Random = field(default_factory=lambda: random.Random(20251102))

    def wallet(self, provider: str) -> Decimal:
        """The reseller wallet of one simulated provider (USD)."""
        return getattr(self, _WALLET_FIELDS[provider])

    def set_wallet(self, provider: str, amount: Decimal) -> None:
        setattr(self, _WALLET_FIELDS[provider], Decimal(amount).quantize(Decimal("0.01")))

    def add_airhub_order(self, order: AirHubOrder) -> None:
        self.airhub_orders[order.order_id] = order

    def finish_airhub(self) -> None:
        self.airhub_timeline = sorted(self.airhub_orders.values(), key=lambda order: order.purchased_at)
        self._airhub_times = [order.purchased_at for order in self.airhub_timeline]

    def airhub_between(self, start: datetime, end: datetime) -> list[AirHubOrder]:
        """Orders purchased in [start, end), newest first, by bisection on the sorted timeline."""
        low = bisect.bisect_left(self._airhub_times, start)
        high = bisect.bisect_left(self._airhub_times, end)
        return self.airhub_timeline[low:high][::-1]

    def add_card_sim(self, sim: CardSim) -> None:
        self.card_sims[sim.id] = sim
        self.card_sims_by_iccid[sim.iccid] = sim
        self.card_sim_list.append(sim)
        self.card_bundles.extend(sim.packages)

    def add_tr_esim(self, esim: TrEsim) -> None:
        self.tr_esims[esim.iccid] = esim

    def next_number(self) -> int:
        self.last_number += 1
        return self.last_number


def build_dataset(
    now: datetime | None = None, *, extra_esims: int = 0, extra_orders: int = 0, seed: int = 1
) -> Dataset:
    """Demo data plus ``extra_esims`` synthetic eSIMs per eSIMCard/TravelRoam and ``extra_orders`` AirHub orders."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    data = Dataset(created_at=now)
    data.airhub_plans = {plan.plan_code: plan for plan in airhub_plans()}
    data.card_packages = {package.id: package for package in esimcard_packages()}
    data.tr_bundles = {bundle.name: bundle for bundle in travelroam_catalogue()}
    rng = filler.make_rng(seed)
    # Filler first for eSIMCard so listing order (by creation) interleaves demo and synthetic eSIMs.
    filler.add_card_sims(data, rng, extra_esims)
    demo.add_card_sims(data, now)
    data.card_sim_list.sort(key=lambda sim: sim.created_at)
    data.card_bundles.sort(key=lambda package: package.created_at)
    filler.add_airhub_orders(data, rng, AIRHUB_BASE_FILLER_ORDERS + extra_orders)
    demo.add_airhub_orders(data, now)
    data.finish_airhub()
    demo.add_tr_esims(data, now)
    filler.add_tr_esims(data, rng, extra_esims)
    return data


__all__ = ["DEMO_ICCIDS", "Dataset", "build_dataset"]
