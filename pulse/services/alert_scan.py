"""The alert scanner: one pass looks at the confirmed subscriptions that are due (docs/alerts.md).

Flow of a pass: tidy up (pending older than 48 h, ended subscriptions, stale claims) → take the due
subscriptions in `next_scan_at` order → claim each (compare-and-set on `next_scan_at`) → its status
from the status service (the cache is free; a provider lookup costs one token of this minute's
ALERT_PROVIDER_BUDGET, and a pass stops when the tokens run out) → thresholds newly crossed in this
plan period → insert their `AlertSent` rows (the unique constraint decides who sends) → one e-mail →
schedule the next look, sooner near a threshold or the plan's end.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from providers.base import StatusCode
from providers.iccid import mask_iccid
from pulse.exceptions import EsimNotFound, ProvidersUnavailable
from pulse.metrics import observe_alert_email, observe_alert_lookup
from pulse.models import AlertBudgetMinute, AlertSent, AlertSubscription
from pulse.models.alerts import SEVERITY, EndReason, Threshold
from pulse.services.alert_emails import AlertFacts, send_alert
from pulse.services.alerts import delete_stale_pending, end_subscriptions, unsubscribe_url
from pulse.services.status import StatusResult, cached_status, esim_status_check

logger = logging.getLogger(__name__)

GONE_FOR = timedelta(days=7)  # revoked or unknown this long: the subscription ends
CLAIM = timedelta(minutes=10)  # a claimed subscription is not due for others meanwhile
UNSENT_AFTER = timedelta(minutes=15)  # alert rows whose e-mail never went out (a killed scanner)
NEAR_EXPIRY = timedelta(hours=96)
NEAR_DATA_SHARE = 0.6
WATCHED = {StatusCode.ACTIVE, StatusCode.DEPLETED, StatusCode.EXPIRED}
GONE = {StatusCode.REVOKED, StatusCode.UNKNOWN}
BATCH = 200


@dataclass
class ScanSummary:
    looked_at: int = 0
    lookups: int = 0
    from_cache: int = 0
    alerts: int = 0
    emails: int = 0
    ended: int = 0
    pending_deleted: int = 0
    unavailable: int = 0
    budget_exhausted: bool = False
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.looked_at} looked at ({self.lookups} provider lookups, {self.from_cache} from cache), "
            f"{self.emails} e-mails ({self.alerts} alerts), {self.ended} ended, "
            f"{self.pending_deleted} unconfirmed deleted"
        )
        if self.unavailable:
            text += f", {self.unavailable} unavailable"
        if self.budget_exhausted:
            text += "; provider budget used up, the rest waits for the next pass"
        if self.errors:
            text += f"; {len(self.errors)} failed: {', '.join(self.errors[:5])}"
        return text


@dataclass(frozen=True)
class Reading:
    """What one status answer means for alerts."""

    status_code: str
    period_key: str
    crossed: frozenset[str]
    used_share: float | None
    expires_at: datetime | None


# --- one pass ---------------------------------------------------------------------------------------


def scan_alerts(*, now: datetime | None = None) -> ScanSummary:
    now = now or timezone.now()
    summary = ScanSummary()
    _tidy(now, summary)
    budget = settings.ALERT_PROVIDER_BUDGET
    while not summary.budget_exhausted and summary.lookups < budget:
        due = list(
            AlertSubscription.objects.filter(
                ended_at__isnull=True, confirmed_at__isnull=False, next_scan_at__lte=now
            )
            .order_by("next_scan_at", "pk")
            .values_list("pk", "next_scan_at")[:BATCH]
        )
        progressed = False
        for pk, due_at in due:
            if summary.lookups >= budget:  # a pass makes at most the budget's lookups
                summary.budget_exhausted = True
            if summary.budget_exhausted:
                break
            progressed |= _look_at_safely(pk, due_at, now, summary)
        if not progressed:  # nothing due, or every one claimed by another scanner
            break
    return summary


def _tidy(now: datetime, summary: ScanSummary) -> None:
    summary.pending_deleted = delete_stale_pending(now)
    summary.ended += end_subscriptions(
        AlertSubscription.objects.filter(confirmed_at__lt=now - timedelta(days=settings.ALERT_MAX_DAYS)),
        EndReason.MAX_AGE,
    )
    summary.ended += end_subscriptions(
        AlertSubscription.objects.filter(gone_since__lt=now - GONE_FOR), EndReason.ESIM_GONE
    )
    # Rows of an e-mail that never went out (the scanner was killed between insert and send): drop
    # them so the next look sends the alert.
    AlertSent.objects.filter(sent_at__isnull=True, created_at__lt=now - UNSENT_AFTER).delete()
    AlertBudgetMinute.objects.filter(minute__lt=now - timedelta(days=1)).delete()


def _look_at_safely(pk: int, due_at: datetime, now: datetime, summary: ScanSummary) -> bool:
    """One subscription's crash (a bug) is logged and counted; the pass goes on with the others, and
    the crashed one is looked at again when its claim runs out."""
    try:
        return _look_at(pk, due_at, now, summary)
    except Exception as exc:
        logger.exception("alert subscription %s: the look failed", pk)
        summary.errors.append(f"subscription {pk}: {type(exc).__name__}")
        return True


def _look_at(pk: int, due_at: datetime, now: datetime, summary: ScanSummary) -> bool:
    """Claim, check and alert one subscription. False when another scanner had claimed it."""
    claimed_until = now + CLAIM
    if not AlertSubscription.objects.filter(pk=pk, next_scan_at=due_at).update(next_scan_at=claimed_until):
        return False
    subscription = AlertSubscription.objects.get(pk=pk)
    result = cached_status(subscription.iccid)
    if result is not None:
        summary.from_cache += 1
        observe_alert_lookup("cache")
    elif take_lookup(now):
        summary.lookups += 1
        observe_alert_lookup("provider")
    else:
        # No token left this minute: give the subscription back, first in line for the next pass.
        AlertSubscription.objects.filter(pk=pk, next_scan_at=claimed_until).update(next_scan_at=due_at)
        summary.budget_exhausted = True
        return True
    summary.looked_at += 1
    try:
        if result is None:
            result = esim_status_check(iccid=subscription.iccid)
    except EsimNotFound:
        _record_gone(subscription, StatusCode.UNKNOWN, now)
        return True
    except ProvidersUnavailable:
        summary.unavailable += 1
        _reschedule(subscription, now, _soon(), status=subscription.last_status)
        return True
    reading = read_status(result.public, now)
    if reading.status_code in GONE:
        _record_gone(subscription, reading.status_code, now)
        return True
    sent = alert_if_crossed(subscription, reading, result, now)
    if sent:
        summary.alerts += sent
        summary.emails += 1
    _reschedule(subscription, now, next_delay(reading, now), status=reading.status_code, clear_gone=True)
    return True


def _record_gone(subscription: AlertSubscription, status: str, now: datetime) -> None:
    AlertSubscription.objects.filter(pk=subscription.pk, gone_since__isnull=True).update(gone_since=now)
    _reschedule(subscription, now, timedelta(seconds=settings.ALERT_SCAN_INTERVAL), status=status)


def _reschedule(
    subscription: AlertSubscription, now: datetime, delay: timedelta, *, status: str, clear_gone: bool = False
) -> None:
    changes = {"next_scan_at": now + delay, "last_scan_at": now, "last_status": status[:16]}
    if clear_gone:  # the eSIM is back (or was never gone): the 7-day count starts again if it goes
        changes["gone_since"] = None
    AlertSubscription.objects.filter(pk=subscription.pk, ended_at__isnull=True).update(**changes)


# --- the provider budget ----------------------------------------------------------------------------


def take_lookup(now: datetime) -> bool:
    """One token of this minute's ALERT_PROVIDER_BUDGET, shared by every scanner (compare-and-set)."""
    budget = settings.ALERT_PROVIDER_BUDGET
    if budget <= 0:
        return False
    minute = now.replace(second=0, microsecond=0)
    AlertBudgetMinute.objects.get_or_create(minute=minute)
    return bool(AlertBudgetMinute.objects.filter(minute=minute, used__lt=budget).update(used=F("used") + 1))


# --- what a status means --------------------------------------------------------------------------


def read_status(public: dict, now: datetime) -> Reading:
    status = public.get("status_code") or StatusCode.UNKNOWN
    usage = public.get("usage") or {}
    expires_at = _parse(public.get("expires_at"))
    crossed: set[str] = set()
    share = _used_share(usage)
    if status in WATCHED:
        if not usage.get("unlimited"):
            remaining = usage.get("remaining_bytes")
            if status == StatusCode.DEPLETED or (
                remaining is not None and remaining <= 0 and usage.get("capacity_bytes")
            ):
                crossed |= {Threshold.DATA_100, Threshold.DATA_80}
            elif share is not None and share >= 0.8:
                crossed.add(Threshold.DATA_80)
        if status == StatusCode.EXPIRED or (expires_at is not None and expires_at <= now):
            crossed |= {Threshold.EXPIRED, Threshold.EXPIRY_72H}
        elif expires_at is not None and expires_at - now <= timedelta(hours=72):
            crossed.add(Threshold.EXPIRY_72H)
    return Reading(str(status), period_key(public), frozenset(crossed), share, expires_at)


def period_key(public: dict) -> str:
    """The plan period the thresholds belong to: the current bundle and when it started and ends (a
    renewal — a new bundle, or a new end — re-arms every threshold)."""
    bundles = public.get("bundles") or []
    expires = public.get("expires_at") or ""
    current = next((b for b in bundles if expires and b.get("expires_at") == expires), None)
    current = current or next(
        (b for b in bundles if b.get("status_code") in (StatusCode.ACTIVE, StatusCode.DEPLETED)), None
    )
    current = current or (bundles[0] if bundles else {})
    name = current.get("name") or public.get("plan_name") or ""
    start = current.get("started_at") or current.get("assigned_at") or ""
    end = (current.get("expires_at") or expires or "")[:10]  # the day: a second's drift re-arms nothing
    return f"{name}|{start}|{end}"[:255]


def _used_share(usage: dict) -> float | None:
    capacity = usage.get("capacity_bytes")
    consumed = usage.get("consumed_bytes")
    if usage.get("unlimited") or not capacity or consumed is None:
        return None
    return consumed / capacity


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def next_delay(reading: Reading, now: datetime) -> timedelta:
    """ALERT_SCAN_INTERVAL, shortened near a data threshold or the plan's end; never later than the
    moment the plan reaches 72 hours left or ends. A little jitter keeps subscriptions spread."""
    delay = timedelta(seconds=settings.ALERT_SCAN_INTERVAL)
    near_data = (
        reading.used_share is not None
        and reading.used_share >= NEAR_DATA_SHARE
        and Threshold.DATA_100 not in reading.crossed
    )
    if reading.expires_at is not None and reading.expires_at > now:
        if reading.expires_at - now <= NEAR_EXPIRY:
            delay = min(delay, _soon())
        for moment in (reading.expires_at - timedelta(hours=72), reading.expires_at):
            if now < moment < now + delay:
                delay = moment - now + timedelta(seconds=30)
    if near_data:
        delay = min(delay, _soon())
    return delay * random.uniform(0.9, 1.0)  # noqa: S311 - spreading, not security


def _soon() -> timedelta:
    return timedelta(seconds=max(settings.ALERT_SCAN_INTERVAL // 4, 60))


# --- sending once -----------------------------------------------------------------------------------


def alert_if_crossed(
    subscription: AlertSubscription, reading: Reading, result: StatusResult, now: datetime
) -> int:
    """Send one e-mail for the thresholds newly crossed in this period; how many it covered (0: none,
    or another scanner won the insert)."""
    wanted = set(subscription.thresholds)
    crossed = [code.value for code in SEVERITY if code in reading.crossed and code in wanted]
    if not crossed:
        return 0
    done = set(
        AlertSent.objects.filter(subscription=subscription, period_key=reading.period_key).values_list(
            "threshold", flat=True
        )
    )
    new = [code for code in crossed if code not in done]
    if not new:
        return 0
    rows = claim_alerts(subscription, reading.period_key, new)
    if rows is None:
        return 0
    if not send_alert(
        subscription, new, alert_facts(subscription, result, now), unsubscribe_url(subscription)
    ):
        AlertSent.objects.filter(pk__in=rows).delete()  # the next look tries again
        return 0
    AlertSent.objects.filter(pk__in=rows).update(sent_at=timezone.now())
    observe_alert_email(new[0])
    AlertSubscription.objects.filter(pk=subscription.pk).update(last_alert_at=now)
    logger.info(
        "alert subscription %s (%s): %s",
        subscription.pk,
        mask_iccid(subscription.iccid),
        ", ".join(new),
        extra={"iccid": mask_iccid(subscription.iccid)},
    )
    return len(new)


def claim_alerts(subscription: AlertSubscription, period: str, thresholds: list[str]) -> list[int] | None:
    """Insert the alert rows in one transaction; None when another scanner inserted one first (the
    unique constraint, not a cache flag, decides)."""
    try:
        with transaction.atomic():
            rows = [
                AlertSent.objects.create(
                    subscription=subscription,
                    iccid=subscription.iccid,
                    period_key=period,
                    threshold=code,
                    lead=index == 0,
                )
                for index, code in enumerate(thresholds)
            ]
    except IntegrityError:
        logger.info("alert subscription %s: another scanner sends this alert", subscription.pk)
        return None
    return [row.pk for row in rows]


def alert_facts(subscription: AlertSubscription, result: StatusResult, now: datetime) -> AlertFacts:
    public = result.public
    expires_at = _parse(public.get("expires_at"))
    if expires_at is None:
        days_left = "unknown"
    elif expires_at <= now:
        days_left = "0 (ended)"
    else:
        days = (expires_at - now).total_seconds() / 86400
        days_left = "less than 1" if days < 1 else str(int(days))
    path = settings.ALERT_RENEWAL_PATH.replace("{iccid}", subscription.iccid)
    return AlertFacts(
        iccid=subscription.iccid,
        plan_name=str(public.get("plan_name") or "N/A"),
        data_left=str(public.get("data_remaining") or "N/A"),
        days_left=days_left,
        expires_at=expires_at.strftime("%Y-%m-%d %H:%M UTC") if expires_at else "",
        renewal_price=same_plan_price(result),
        renewal_url=f"{settings.FRONTEND_URL}{path}",
    )


def same_plan_price(result: StatusResult) -> str:
    """The price of the same plan again from the synced catalogue, or "" when there is none."""
    from pulse.services.catalog import active_bundles
    from pulse.services.matching import match_bundles
    from pulse.services.money import format_money
    from pulse.services.pricing import UnpriceableBundle, quote_bundle
    from pulse.services.renewal_options import plan_query

    try:
        plan = plan_query(result.renewal)
        match = next(
            (m for m in match_bundles(plan=plan, bundles=active_bundles(plan.provider)) if m.same_plan), None
        )
        if match is None:
            return ""
        quote = quote_bundle(match.bundle, settings.STRIPE_CURRENCY)
    except UnpriceableBundle:
        return ""
    except Exception:  # an alert without a price beats no alert (e.g. no exchange rate right now)
        logger.warning("no same-plan price for %s", mask_iccid(result.public.get("iccid")), exc_info=True)
        return ""
    return format_money(quote.amount, quote.currency)
