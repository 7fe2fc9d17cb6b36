"""Status lookups per provider per hour, for the staff overview (docs/operations.md, "Overview").

Every provider's part in a status check is seen by the `providers.observe.lookups` hook. Counting it
costs a dictionary update under a lock in this process (no I/O on the request path); the counts are
written to `ProviderLookupHour` by increments (`F("calls") + n`), so any number of processes add to
the same rows without losing each other's counts, on SQLite and PostgreSQL alike.

Who writes: a process's counts live in its own memory, which no other process can read, so each
process writes its own. The first lookup after a write starts a timer (a daemon thread) that writes
`LOOKUP_STATS_FLUSH_SECONDS` later; a process that stops writes what it holds at exit. The beat job
`lookup_stats` (`SCHEDULE_LOOKUP_STATS_SECONDS`) writes the worker's own counts and prunes rows older
than `LOOKUP_STATS_RETENTION_DAYS`. At most one flush interval of counts is lost when a process is
killed (SIGKILL); the overview is a trend, not a ledger.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F

from providers import observe
from pulse.models import ProviderLookupHour
from pulse.models.overview import BUCKET_FIELDS, LATENCY_BUCKETS_MS

logger = logging.getLogger(__name__)


@dataclass
class HourCounts:
    calls: int = 0
    failures: int = 0
    seconds_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))

    def add(self, seconds: float, failed: bool) -> None:
        self.calls += 1
        self.failures += int(failed)
        self.seconds_sum += max(seconds, 0.0)
        self.buckets[bucket_index(seconds)] += 1


def bucket_index(seconds: float) -> int:
    """The histogram bucket of a duration: the first bound it does not exceed (the last: beyond all)."""
    return bisect.bisect_left(LATENCY_BUCKETS_MS, max(seconds, 0.0) * 1000)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def is_failure(outcome: str) -> bool:
    """ "found" and "not_found" are answers; "error:<code>" means the provider could not answer."""
    return outcome.startswith("error:")


class LookupCounter:
    """This process's counts since the last write, by (provider, hour)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, datetime], HourCounts] = {}
        self._timer: threading.Timer | None = None

    def record(self, event: observe.Lookup, *, now: datetime | None = None) -> None:
        key = (event.provider, hour_of(now or datetime.now(UTC)))
        with self._lock:
            self._counts.setdefault(key, HourCounts()).add(event.seconds, is_failure(event.outcome))
            if self._timer is None and settings.LOOKUP_STATS_FLUSH_SECONDS > 0:
                self._timer = threading.Timer(settings.LOOKUP_STATS_FLUSH_SECONDS, self._timed_flush)
                self._timer.daemon = True
                self._timer.name = "lookup-stats-flush"
                self._timer.start()

    def take(self) -> dict[tuple[str, datetime], HourCounts]:
        with self._lock:
            counts, self._counts = self._counts, {}
            return counts

    def put_back(self, counts: dict[tuple[str, datetime], HourCounts]) -> None:
        """Counts a failed write could not store, kept for the next one."""
        with self._lock:
            for key, value in counts.items():
                mine = self._counts.setdefault(key, HourCounts())
                mine.calls += value.calls
                mine.failures += value.failures
                mine.seconds_sum += value.seconds_sum
                mine.buckets = [a + b for a, b in zip(mine.buckets, value.buckets, strict=True)]

    def pending(self) -> int:
        with self._lock:
            return sum(counts.calls for counts in self._counts.values())

    def flush(self) -> int:
        """Write the counts to the database; the number of lookups written."""
        counts = self.take()
        if not counts:
            return 0
        try:
            write_counts(counts.items())
        except Exception:
            self.put_back(counts)
            raise
        return sum(value.calls for value in counts.values())

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except Exception:  # the next lookup starts another timer; the counts were kept
            logger.exception("lookup stats: writing the hourly counts failed")
        finally:
            connections.close_all()  # this timer thread's own connections; it ends here

    def cancel_timer(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


def write_counts(items: Iterable[tuple[tuple[str, datetime], HourCounts]]) -> None:
    """Add the counts to their hourly rows: an increment, or a new row when the hour has none yet."""
    for (provider, hour), counts in items:
        increments = {
            "calls": F("calls") + counts.calls,
            "failures": F("failures") + counts.failures,
            "seconds_sum": F("seconds_sum") + counts.seconds_sum,
            **{name: F(name) + n for name, n in zip(BUCKET_FIELDS, counts.buckets, strict=True) if n},
        }
        rows = ProviderLookupHour.objects.filter(provider=provider, hour=hour)
        if rows.update(**increments):
            continue
        try:
            with transaction.atomic():
                ProviderLookupHour.objects.create(
                    provider=provider,
                    hour=hour,
                    calls=counts.calls,
                    failures=counts.failures,
                    seconds_sum=counts.seconds_sum,
                    **dict(zip(BUCKET_FIELDS, counts.buckets, strict=True)),
                )
        except IntegrityError:  # another process created the row first: add to it
            rows.update(**increments)


def prune(now: datetime | None = None) -> int:
    days = settings.LOOKUP_STATS_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    deleted, _ = ProviderLookupHour.objects.filter(hour__lt=cutoff).delete()
    return deleted


counter = LookupCounter()
_installed = False


def install() -> None:
    """Count every lookup of this process (called from PulseConfig.ready), once."""
    global _installed
    if _installed:
        return
    observe.lookups.subscribe(counter.record)
    atexit.register(_flush_at_exit)
    _installed = True


def _flush_at_exit() -> None:
    counter.cancel_timer()
    if settings.LOOKUP_STATS_FLUSH_SECONDS <= 0:
        return  # this process never writes by itself (the test suite)
    try:
        counter.flush()
    except Exception:  # the database may already be gone at exit
        logger.warning("lookup stats: %s lookups not written at exit", counter.pending())
