"""Alert subscriptions: subscribe (double opt-in), confirm, unsubscribe, and the signed links
(docs/alerts.md).

Flow: `POST alerts/` always answers 202 and hands `alert_subscription_request` to a worker, so the
answer neither says nor times whether the eSIM exists → the worker asks the status service; only
when a provider knows the eSIM is a pending subscription stored and the confirmation e-mail sent →
the confirm link (signed, 48 h) confirms it → the scanner watches it → the unsubscribe link (signed,
never expires) ends it and deletes the address.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from providers.iccid import mask_iccid
from pulse.exceptions import ApplicationError, EsimNotFound, NotFound, ProvidersUnavailable
from pulse.models import AlertSubscription
from pulse.models.alerts import SEVERITY, EndReason
from pulse.services.alert_emails import send_confirmation
from pulse.services.status import clean_iccid, esim_status_check

logger = logging.getLogger(__name__)

CONFIRM_SALT = "pulse.alerts.confirm"
UNSUBSCRIBE_SALT = "pulse.alerts.unsubscribe"
CONFIRM_MAX_AGE = timedelta(hours=48)
PENDING_LIFETIME = CONFIRM_MAX_AGE  # an unconfirmed subscription (and its address) is deleted then
RESEND_CONFIRMATION_AFTER = timedelta(minutes=10)
ALL_THRESHOLDS = [threshold.value for threshold in SEVERITY]


class AlertLinkInvalid(NotFound):
    """The link's signature is wrong, or its subscription no longer exists."""

    code = "alert_link_invalid"
    default_message = "This link is not valid (any more)."


class AlertLinkExpired(ApplicationError):
    """A confirm link older than 48 hours."""

    status_code = 410
    code = "alert_link_expired"
    default_message = "This confirmation link has expired."


@dataclass(frozen=True)
class LinkOutcome:
    subscription: AlertSubscription
    changed: bool  # False: it was already confirmed / unsubscribed


# --- subscribing ------------------------------------------------------------------------------------


def alert_subscribe(*, iccid: str, email: str, thresholds: list[str] | None) -> None:
    """Hand the request to a worker (after commit). Returns nothing: the answer is the same either way."""
    from pulse.services.background import publish_after_commit
    from pulse.tasks import alert_subscription_request

    iccid = clean_iccid(iccid)  # 400 invalid_iccid: the same rules as the status API
    wanted = normalise_thresholds(thresholds)
    publish_after_commit(
        alert_subscription_request,
        iccid,
        email.strip(),
        wanted,
        about=f"an alert subscription for {mask_iccid(iccid)}",
        if_lost="no confirmation e-mail is sent; the customer can subscribe again",
    )


def normalise_thresholds(thresholds: list[str] | None) -> list[str]:
    chosen = set(thresholds or ALL_THRESHOLDS)
    return [code for code in ALL_THRESHOLDS if code in chosen]


def alert_subscription_request(*, iccid: str, email: str, thresholds: list[str]) -> str:
    """The worker's half of a subscribe: store a pending subscription and send the confirmation e-mail,
    only when a provider knows the eSIM. Returns what happened (for the task's log)."""
    try:
        esim_status_check(iccid=iccid)
    except EsimNotFound:
        logger.info("alert subscription for %s: no provider knows it; nothing sent", mask_iccid(iccid))
        return "unknown_esim"
    except ProvidersUnavailable:
        logger.warning("alert subscription for %s: providers unavailable; nothing sent", mask_iccid(iccid))
        return "providers_unavailable"
    subscription = _live_subscription(iccid, email)
    if subscription is not None and subscription.confirmed:
        return "already_confirmed"
    if subscription is None:
        subscription = _create_pending(iccid, email, thresholds)
        if subscription is None:
            return "raced"
    else:
        AlertSubscription.objects.filter(pk=subscription.pk).update(thresholds=thresholds)
        recently = subscription.confirmation_sent_at and (
            timezone.now() - subscription.confirmation_sent_at < RESEND_CONFIRMATION_AFTER
        )
        if recently:
            return "confirmation_recently_sent"
    return (
        "confirmation_sent" if send_confirmation(subscription, confirm_url(subscription)) else "email_failed"
    )


def _live_subscription(iccid: str, email: str) -> AlertSubscription | None:
    return AlertSubscription.objects.filter(iccid=iccid, email__iexact=email, ended_at__isnull=True).first()


def _create_pending(iccid: str, email: str, thresholds: list[str]) -> AlertSubscription | None:
    try:
        with transaction.atomic():
            return AlertSubscription.objects.create(
                iccid=iccid, email=email, thresholds=thresholds, nonce=secrets.token_hex(16)
            )
    except IntegrityError:  # the same request, handled by another worker at the same moment
        return None


# --- the signed links -------------------------------------------------------------------------------


def _token(subscription: AlertSubscription, salt: str) -> str:
    return signing.dumps({"s": subscription.pk, "n": subscription.nonce}, salt=salt, compress=True)


def confirm_url(subscription: AlertSubscription) -> str:
    path = reverse("pulse:alert-confirm", kwargs={"token": _token(subscription, CONFIRM_SALT)})
    return f"{settings.PUBLIC_BASE_URL}{path}"


def unsubscribe_url(subscription: AlertSubscription) -> str:
    path = reverse("pulse:alert-unsubscribe", kwargs={"token": _token(subscription, UNSUBSCRIBE_SALT)})
    return f"{settings.PUBLIC_BASE_URL}{path}"


def _subscription_for(token: str, salt: str, max_age: timedelta | None) -> AlertSubscription:
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise AlertLinkExpired(details="Subscribe again to get a new confirmation e-mail.") from exc
    except signing.BadSignature as exc:
        raise AlertLinkInvalid(details="The link is incomplete or was changed.") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int):
        raise AlertLinkInvalid(details="The link is incomplete or was changed.")
    subscription = AlertSubscription.objects.filter(pk=payload.get("s"), nonce=payload.get("n")).first()
    if subscription is None:
        raise AlertLinkInvalid(
            details="The subscription no longer exists (unconfirmed ones are deleted after 48 hours)."
        )
    return subscription


def alert_confirm(*, token: str) -> LinkOutcome:
    """Confirm the subscription; the scanner looks at it on its next pass."""
    subscription = _subscription_for(token, CONFIRM_SALT, CONFIRM_MAX_AGE)
    if subscription.ended_at is not None:
        raise AlertLinkInvalid(details="This subscription has ended; subscribe again to get alerts.")
    now = timezone.now()
    changed = AlertSubscription.objects.filter(pk=subscription.pk, confirmed_at__isnull=True).update(
        confirmed_at=now, next_scan_at=now
    )
    subscription.refresh_from_db()
    if changed:
        logger.info("alert subscription %s confirmed for %s", subscription.pk, mask_iccid(subscription.iccid))
    return LinkOutcome(subscription, bool(changed))


def alert_unsubscribe(*, token: str) -> LinkOutcome:
    """End the subscription and delete its address (the row stays, anonymised, for the alert log)."""
    subscription = _subscription_for(token, UNSUBSCRIBE_SALT, None)
    changed = end_subscriptions(AlertSubscription.objects.filter(pk=subscription.pk), EndReason.UNSUBSCRIBED)
    subscription.refresh_from_db()
    return LinkOutcome(subscription, bool(changed))


def end_subscriptions(queryset, reason: str) -> int:
    """End live subscriptions: no address is kept once a subscription has ended."""
    return queryset.filter(ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason=reason, email="", next_scan_at=None
    )


def delete_stale_pending(now=None) -> int:
    """Unconfirmed subscriptions older than 48 hours go, with their address."""
    cutoff = (now or timezone.now()) - PENDING_LIFETIME
    _, per_model = AlertSubscription.objects.filter(confirmed_at__isnull=True, created_at__lt=cutoff).delete()
    return per_model.get(AlertSubscription._meta.label, 0)
