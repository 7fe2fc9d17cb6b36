"""The e-mails of usage alerts: the confirmation (double opt-in) and the alert itself (docs/alerts.md).

Text and HTML from Django templates (the HTML one auto-escaped, as every customer e-mail). Every alert
carries the unsubscribe link and `List-Unsubscribe` / `List-Unsubscribe-Post` headers (RFC 8058
one-click). Subjects hold no provider text. A send failure is logged without the address and
reported to the caller, which decides what to retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from providers.iccid import mask_iccid
from pulse.models import AlertSubscription
from pulse.models.alerts import Threshold
from pulse.services.emails import mail_failure_text

logger = logging.getLogger(__name__)

TEMPLATE_DIR = "pulse/emails"

HEADLINES = {
    Threshold.EXPIRED: "Your eSIM plan has expired",
    Threshold.DATA_100: "Your eSIM data is used up",
    Threshold.EXPIRY_72H: "Your eSIM plan ends within 72 hours",
    Threshold.DATA_80: "You have used 80 % of your eSIM data",
}


@dataclass(frozen=True)
class AlertFacts:
    """What the alert e-mail says, all display strings (from the unified status)."""

    iccid: str
    plan_name: str
    data_left: str
    days_left: str
    expires_at: str
    renewal_price: str  # "" when the catalogue has no same-plan bundle
    renewal_url: str


def send_confirmation(subscription: AlertSubscription, confirm_url: str) -> bool:
    from django.utils import timezone

    context = {
        "iccid": mask_iccid(subscription.iccid),
        "confirm_url": confirm_url,
        "thresholds": [Threshold(code).label for code in subscription.thresholds],
        "valid_hours": 48,
    }
    message = _message("alert_confirm", "Confirm your eSIM usage alerts", subscription.email, context)
    if not _send(message, subscription, "confirmation"):
        return False
    AlertSubscription.objects.filter(pk=subscription.pk).update(confirmation_sent_at=timezone.now())
    return True


def send_alert(
    subscription: AlertSubscription, thresholds: list[str], facts: AlertFacts, unsubscribe_url: str
) -> bool:
    """One e-mail for every threshold newly crossed, led by the most severe (`thresholds[0]`)."""
    lead = Threshold(thresholds[0])
    context = {
        "headline": HEADLINES[lead],
        "also": [HEADLINES[Threshold(code)] for code in thresholds[1:]],
        "facts": facts,
        "iccid": mask_iccid(facts.iccid),
        "unsubscribe_url": unsubscribe_url,
    }
    subject = f"{HEADLINES[lead]} ({mask_iccid(facts.iccid)})"
    message = _message("alert", subject, subscription.email, context)
    message.extra_headers.update(
        {
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    )
    return _send(message, subscription, f"alert {','.join(thresholds)}")


def _message(template: str, subject: str, to: str, context: dict) -> EmailMultiAlternatives:
    text = render_to_string(f"{TEMPLATE_DIR}/{template}.txt", context)
    html = render_to_string(f"{TEMPLATE_DIR}/{template}.html", context)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[to], headers={}
    )
    message.attach_alternative(html, "text/html")
    return message


def _send(message: EmailMultiAlternatives, subscription: AlertSubscription, what: str) -> bool:
    if not settings.PUBLIC_BASE_URL:
        # Its confirm or unsubscribe link would have no address (deploy check pulse.W005 says so).
        logger.error("alert e-mails need PUBLIC_BASE_URL; %s e-mail not sent", what)
        return False
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # any backend failure: reported, never raised into the scan
        text = mail_failure_text(exc, {subscription.email: "<customer>"})
        logger.warning(
            "alert subscription %s (%s): %s e-mail not sent (%s)",
            subscription.pk,
            mask_iccid(subscription.iccid),
            what,
            text,
        )
        return False
    logger.info(
        "alert subscription %s (%s): %s e-mail sent", subscription.pk, mask_iccid(subscription.iccid), what
    )
    return True
