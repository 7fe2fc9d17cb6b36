"""The provider contract: the dataclasses every client returns and the interface they implement.

Clients never hand raw JSON to the rest of the system. Quantities are integer bytes (decimal units:
1 GB = 10**9 bytes); datetimes are timezone-aware UTC; money is Decimal with its currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

AIRHUB = "airhub"
ESIMCARD = "esimcard"
TRAVELROAM = "travelroam"
PROVIDER_NAMES = (AIRHUB, ESIMCARD, TRAVELROAM)


class StatusCode(StrEnum):
    """Normalised eSIM / bundle state (contract §5), shared by every provider."""

    PENDING = "pending"
    NOT_ACTIVE = "not_active"
    ACTIVE = "active"
    DEPLETED = "depleted"
    EXPIRED = "expired"
    REVOKED = "revoked"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    StatusCode.PENDING: "Pending",
    StatusCode.NOT_ACTIVE: "Not Active",
    StatusCode.ACTIVE: "Active",
    StatusCode.DEPLETED: "Depleted",
    StatusCode.EXPIRED: "Expired",
    StatusCode.REVOKED: "Revoked",
    StatusCode.UNKNOWN: "Unknown",
}


@dataclass(frozen=True)
class Usage:
    """Data quantities in bytes. `None` means the provider did not say."""

    capacity_bytes: int | None = None
    consumed_bytes: int | None = None
    remaining_bytes: int | None = None
    unlimited: bool = False

    @property
    def known(self) -> bool:
        return self.unlimited or self.capacity_bytes is not None or self.remaining_bytes is not None


@dataclass(frozen=True)
class BundleState:
    """One bundle / package applied to an eSIM, with its own state and dates."""

    name: str
    description: str = ""
    state: StatusCode = StatusCode.UNKNOWN
    raw_state: str = ""
    usage: Usage | None = None
    assigned_at: datetime | None = None
    started_at: datetime | None = None
    expires_at: datetime | None = None
    duration_days: int | None = None


@dataclass(frozen=True)
class EsimRecord:
    """What one provider knows about one eSIM.

    `reference` is what the client needs to find this eSIM again without a list scan (AirHub
    order id and purchase day, eSIMCard eSIM UUID, TravelRoam ICCID); the status service persists it.
    `activation_code` is the full LPA string and `matching_id` its secret half: staff only, never
    in a public answer or a log line.
    """

    provider: str
    iccid: str
    reference: str
    status: StatusCode = StatusCode.UNKNOWN
    profile_status: str | None = None
    plan_name: str | None = None
    plan_code: str | None = None
    order_id: str | None = None
    usage: Usage | None = None
    bundles: tuple[BundleState, ...] = ()
    purchased_at: datetime | None = None
    installed_at: datetime | None = None
    started_at: datetime | None = None
    expires_at: datetime | None = None
    validity_days: int | None = None
    country_code: str | None = None
    smdp_address: str | None = None
    matching_id: str | None = None
    activation_code: str | None = None
    apn: str | None = None
    network: str | None = None
    # When the provider data was read; None means during this lookup. An index can be older.
    as_of: datetime | None = None


@dataclass(frozen=True)
class CatalogBundle:
    """A bundle that can be bought from a provider, at the provider's cost."""

    provider: str
    code: str
    description: str
    cost: Decimal
    currency: str
    countries: tuple[str, ...] = ()
    region: str | None = None
    data_bytes: int | None = None
    unlimited: bool = False
    duration_days: int | None = None
    package_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopUpRequest:
    """Everything a client needs to place one top-up; `order_reference` is our order id."""

    iccid: str
    esim_reference: str
    bundle_code: str
    order_reference: str
    package_id: str | None = None
    duration_days: int | None = None
    amount: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class WalletBalance:
    """What a provider says the reseller's prepaid wallet holds (docs/operations.md, "Provider wallets").

    `currency` is the wallet's currency (ISO 4217, upper case); `as_of` when it was read (UTC).
    """

    provider: str
    amount: Decimal
    currency: str
    as_of: datetime


class TopUpState(StrEnum):
    COMPLETED = "completed"
    PENDING = "pending"


@dataclass(frozen=True)
class TopUpResult:
    provider: str
    reference: str
    state: TopUpState = TopUpState.COMPLETED
    message: str = ""


@runtime_checkable
class ProviderClient(Protocol):
    """One wholesale provider. Every method raises only `providers.errors.ProviderError`s."""

    name: str

    def lookup(self, iccid: str, *, reference: str | None = None, install_code: bool = False) -> EsimRecord:
        """The eSIM's status. With `reference` (from an earlier lookup) no list scan is needed.

        The activation code and matching id are never read from or written to a cache: a record
        carries them only as read from the provider during this lookup. `install_code=True` (staff
        showing the install code) asks for them from the provider in any case.

        Raises ProviderNotFound when this provider does not know the ICCID.
        """

    def catalogue(self) -> list[CatalogBundle]:
        """Every bundle the account can buy (all pages)."""

    def top_up(self, request: TopUpRequest) -> TopUpResult:
        """Place one top-up. Never retried internally: a timeout means the outcome is unknown."""

    def find_top_up(self, request: TopUpRequest, *, since: datetime) -> TopUpResult | None:
        """Ask the provider whether this top-up already happened (for reconciliation).

        Returns None when the provider shows no such top-up. Raises ProviderUnavailable when it
        cannot tell, and NotImplementedError when the provider API offers no way to ask.
        """

    def probe(self) -> None:
        """A cheap call proving credentials and reachability (a login or a balance read)."""

    def wallet(self) -> WalletBalance:
        """The prepaid wallet's balance. Raises ProviderError like every call (never a top-up)."""
