"""Merging what several providers know about one eSIM (docs/status.md, "Merge precedence").

Several providers may know one ICCID: AirHub resells eSIMs whose network-side usage lives at
TravelRoam or eSIMCard. The *primary* record — whose status and usage win, and whose provider is
`api_provider` — is chosen by evidence, then by a fixed order:

1. records that report usage and a known status, then records with a known status, then the rest;
2. within a rank: TravelRoam, eSIMCard, AirHub (the network-side sources before the reseller).

The primary gives status, usage, bundles, dates and plan. The other fields are filled from the
provider that owns them best: AirHub's order id and purchase date (the reseller's sale), a real APN
from whoever has one, and any field the primary left empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from providers.base import AIRHUB, ESIMCARD, TRAVELROAM, EsimRecord, StatusCode

PRIMARY_ORDER = (TRAVELROAM, ESIMCARD, AIRHUB)
ORDER_ID_ORDER = (AIRHUB, ESIMCARD)
PURCHASE_DATE_ORDER = (AIRHUB, ESIMCARD, TRAVELROAM)


@dataclass(frozen=True)
class MergedStatus:
    iccid: str
    primary: EsimRecord
    records: dict[str, EsimRecord]

    @property
    def provider(self) -> str:
        return self.primary.provider

    def first(self, field: str, order: tuple[str, ...] | None = None):
        """The field from the primary, else from the other records in `order`."""
        names = [self.primary.provider, *[n for n in (order or PRIMARY_ORDER) if n != self.primary.provider]]
        for name in names:
            record = self.records.get(name)
            value = getattr(record, field, None) if record else None
            if value not in (None, "", ()):
                return value
        return None

    def preferred(self, field: str, order: tuple[str, ...]):
        """The field from the first provider in `order` that has it, else from the primary."""
        for name in order:
            record = self.records.get(name)
            value = getattr(record, field, None) if record else None
            if value not in (None, ""):
                return value
        return self.first(field)


def _evidence_rank(record: EsimRecord) -> int:
    has_usage = record.usage is not None and record.usage.known
    known_status = record.status is not StatusCode.UNKNOWN
    if has_usage and known_status:
        return 0
    if known_status:
        return 1
    return 2


def choose_primary(records: Mapping[str, EsimRecord]) -> EsimRecord:
    def key(record: EsimRecord) -> tuple[int, int]:
        order = (
            PRIMARY_ORDER.index(record.provider) if record.provider in PRIMARY_ORDER else len(PRIMARY_ORDER)
        )
        return (_evidence_rank(record), order)

    return min(records.values(), key=key)


def merge_records(iccid: str, records: Mapping[str, EsimRecord]) -> MergedStatus:
    if not records:
        raise ValueError("merge_records needs at least one record")
    return MergedStatus(iccid=iccid, primary=choose_primary(records), records=dict(records))
