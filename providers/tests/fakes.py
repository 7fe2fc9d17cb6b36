"""Fake provider clients for selection, merge and API tests (no HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from providers.base import CatalogBundle, EsimRecord, TopUpRequest, TopUpResult
from providers.errors import ProviderNotFound


class FakeProvider:
    """Answers lookups from a dict; `behaviour` can replace the answer with a callable or an error."""

    def __init__(self, name: str, records: dict[str, EsimRecord] | None = None) -> None:
        self.name = name
        self.records = dict(records or {})
        self.behaviour: Callable[[str], EsimRecord] | Exception | None = None
        self.calls: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        self.top_ups: list[TopUpRequest] = []
        self.bundles: list[CatalogBundle] = []

    def lookup(self, iccid: str, *, reference: str | None = None, install_code: bool = False) -> EsimRecord:
        self.calls.append((iccid, reference))
        if isinstance(self.behaviour, Exception):
            raise self.behaviour
        if callable(self.behaviour):
            return self.behaviour(iccid)
        if iccid not in self.records:
            raise ProviderNotFound(self.name, "unknown ICCID")
        return self.records[iccid]

    def block_until_released(self, iccid: str) -> EsimRecord:
        self.release.wait(10)
        raise ProviderNotFound(self.name, "released")

    def catalogue(self) -> list[CatalogBundle]:
        return list(self.bundles)

    def top_up(self, request: TopUpRequest) -> TopUpResult:
        self.top_ups.append(request)
        return TopUpResult(self.name, f"{self.name}-ref-{len(self.top_ups)}")

    def find_top_up(self, request: TopUpRequest, *, since: datetime) -> TopUpResult | None:
        return None

    def probe(self) -> None:
        if isinstance(self.behaviour, Exception):
            raise self.behaviour
