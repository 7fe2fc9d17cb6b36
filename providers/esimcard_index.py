"""eSIMCard's ICCID -> eSIM UUID index (docs/status.md, "Indexes").

eSIMCard looks eSIMs up by UUID only, so the index is built by walking every `GET /my-esims` page
(501 pages for 10,000 eSIMs). The walk is expensive, so:

- one walk at a time per account across every thread and worker (`SingleFlight` on a cache lock);
  a lookup that needs the index while another worker walks waits for that walk instead of starting
  its own;
- at most one full walk per index lifetime (`max_age`): a stale index still answers while a new one
  is built in the background (or by `rebuild_provider_indexes`, from the scheduler);
- an ICCID missing from a live index is proved absent by one round trip: the first and the last page
  (new eSIMs appear at one end of the list, whichever way it is sorted) and the list's `total`. When the
  total says more eSIMs were added than those two pages show, the index is incomplete and one walk
  (shared as above) replaces it;
- the index is a `SharedSnapshot`, so a lookup costs one small cache read, not a load of the index.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from providers.cache import CacheLike
from providers.concurrency import gather
from providers.errors import ProviderNotFound, ProviderTimeout
from providers.iccid import normalize_iccid
from providers.observe import IndexWalk, index_walks
from providers.shared import FlightTimeout, SharedSnapshot, SingleFlight

logger = logging.getLogger(__name__)

IndexEntry = tuple[str, str | None]  # (eSIM UUID, created_at) per ICCID
Sims = dict[str, IndexEntry]

WALK_LEASE_SECONDS = 600.0  # a walk holding the lock longer than this is taken to have died
HEAD_LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class ListPage:
    items: list[Any]
    last_page: int
    total: int | None


def entries_of(items: list[Any]) -> Sims:
    sims: Sims = {}
    for item in items:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        iccid = normalize_iccid(item.get("iccid"))
        if iccid and iccid not in sims:
            created = item.get("created_at")
            sims[iccid] = (str(item["id"]), str(created) if created else None)
    return sims


class CardIndex:
    """The index of one eSIMCard account. `read_page(n)` reads one list page; `walk(first)` the rest."""

    provider = "esimcard"
    name = "esims"

    def __init__(
        self,
        cache: CacheLike,
        key: str,
        *,
        read_page: Callable[[int], ListPage],
        walk: Callable[[ListPage], list[Any]],
        clock: Callable[[], float] = time.time,
        max_age: float = 3600.0,
        head_every: float = 5.0,
        wait: float = 120.0,
    ) -> None:
        self._snapshot = SharedSnapshot(cache, key, ttl=max(max_age * 4, 3600.0))
        self._walk_flight = SingleFlight(cache, f"{key}:walk", lease=WALK_LEASE_SECONDS)
        self._head_flight = SingleFlight(cache, f"{key}:head", lease=HEAD_LEASE_SECONDS)
        self._read_page = read_page
        self._walk = walk
        self._clock = clock
        self.max_age = max_age
        self._head_every = head_every
        self._wait = wait

    # --- lookups ------------------------------------------------------------------------------------

    def cached(self) -> tuple[Sims, dict[str, Any]] | None:
        return self._snapshot.get()

    def entry(self, iccid: str) -> IndexEntry:
        """The UUID entry of `iccid`; ProviderNotFound (with `as_of`) when the account proves it absent."""
        snapshot = self._snapshot.get()
        if snapshot is None:
            snapshot = self._build(newer_than=None)
        elif self._stale(snapshot[1]):
            self.rebuild_in_background()
        sims, head = snapshot
        if iccid in sims:
            return sims[iccid]
        sims, head = self._checked_head(snapshot)
        if iccid in sims:
            return sims[iccid]
        if not head["complete"]:
            sims, head = self._build(newer_than=head["built_at"])
            if iccid in sims:
                return sims[iccid]
        raise ProviderNotFound(
            self.provider,
            "ICCID not in this eSIMCard account",
            as_of=datetime.fromtimestamp(head["checked_at"], UTC),
        )

    # --- building -----------------------------------------------------------------------------------

    def rebuild(self, *, force: bool = False) -> dict[str, Any]:
        """Walk the list when the index is absent or stale (or always with `force`); a summary."""
        snapshot = self._snapshot.get()
        if snapshot is not None and not force and not self._stale(snapshot[1]):
            return {"rebuilt": False, "entries": len(snapshot[0]), "built_at": snapshot[1]["built_at"]}
        sims, head = self._build(newer_than=snapshot[1]["built_at"] if snapshot else None)
        return {"rebuilt": True, "entries": len(sims), "built_at": head["built_at"]}

    def rebuild_in_background(self) -> None:
        """Start a rebuild unless one is running anywhere; the caller keeps using the stale index."""
        self._walk_flight.run_in_background(self.rebuild, provider=self.provider, what="index")

    def _stale(self, head: dict[str, Any]) -> bool:
        return self._clock() - head["built_at"] >= self.max_age

    def _build(self, *, newer_than: float | None) -> tuple[Sims, dict[str, Any]]:
        """One walk for everybody: join a walk in progress, else walk; the index built after `newer_than`."""

        def ready() -> tuple[Sims, dict[str, Any]] | None:
            snapshot = self._snapshot.get()
            if snapshot is None or (newer_than is not None and snapshot[1]["built_at"] <= newer_than):
                return None
            return snapshot

        try:
            return self._walk_flight.run(self._walk_and_store, ready=ready, wait=self._wait)
        except FlightTimeout as exc:
            raise ProviderTimeout(
                self.provider, "the eSIM index walk of another worker is still running"
            ) from exc

    def _walk_and_store(self) -> tuple[Sims, dict[str, Any]]:
        started = time.monotonic()
        outcome, pages = "error", 0
        try:
            first = self._read_page(1)
            pages = first.last_page
            sims = entries_of(self._walk(first))
            outcome = "ok"
        finally:
            index_walks.emit(
                IndexWalk(self.provider, self.name, "full", outcome, pages, time.monotonic() - started)
            )
        now = self._clock()
        meta = {
            "built_at": now,
            "checked_at": now,
            "total": first.total,
            "added": 0,
            "last_page": first.last_page,
        }
        head = self._snapshot.put(sims, {**meta, "complete": True})
        logger.info("esimcard eSIM index built with %d eSIMs", len(sims), extra={"provider": self.provider})
        return sims, head

    # --- proof of absence ---------------------------------------------------------------------------

    def _checked_head(self, snapshot: tuple[Sims, dict[str, Any]]) -> tuple[Sims, dict[str, Any]]:
        """The index with the newest eSIMs added: at most one head check per `head_every` seconds."""
        _, head = snapshot
        if self._clock() - head["checked_at"] < self._head_every:
            return snapshot
        asked_at = self._clock()

        def ready() -> tuple[Sims, dict[str, Any]] | None:
            latest = self._snapshot.get()
            return latest if latest is not None and latest[1]["checked_at"] >= asked_at else None

        try:
            return self._head_flight.run(lambda: self._check_head(snapshot), ready=ready, wait=self._wait)
        except FlightTimeout as exc:
            raise ProviderTimeout(
                self.provider, "the eSIM list check of another worker is still running"
            ) from exc

    def _check_head(self, snapshot: tuple[Sims, dict[str, Any]]) -> tuple[Sims, dict[str, Any]]:
        latest = self._snapshot.get() or snapshot  # another worker may have added eSIMs meanwhile
        sims, head = latest
        started = time.monotonic()
        # Page 1 and the last page known at once; a list that grew by a page needs its new last one too.
        known_last = max(int(head.get("last_page") or 1), 1)
        ends = gather(*(partial(self._read_page, page) for page in sorted({1, known_last})))
        first = ends[0]
        if first.last_page > known_last:
            ends.append(self._read_page(first.last_page))
        index_walks.emit(
            IndexWalk(self.provider, self.name, "head", "ok", len(ends), time.monotonic() - started)
        )
        new = {
            iccid: entry
            for page in ends
            for iccid, entry in entries_of(page.items).items()
            if iccid not in sims
        }
        added = head.get("added", 0) + len(new)
        complete = first.total is None or head.get("total") is None or first.total <= head["total"] + added
        changes = {
            "checked_at": self._clock(),
            "added": added,
            "complete": complete,
            "last_page": first.last_page,
        }
        if new:
            return {**sims, **new}, self._snapshot.put({**sims, **new}, {**head, **changes})
        return sims, self._snapshot.update_meta(head, **changes)
