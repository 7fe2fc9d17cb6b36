"""Customer e-mails about a renewal order (docs/operations.md, "What the customer receives").

On COMPLETED a receipt, on REFUNDED a refund notice, on MANUAL_REVIEW a "we are on it" note. Each is
sent after the transition has committed (an `order_state.on_transition` listener connected in
`PulseConfig.ready`), only when the order has a customer e-mail, and at most once: the matching
`*_sent_at` field is claimed with `UPDATE … WHERE field IS NULL` before sending, so a listener firing
twice or two workers sweeping at once send one e-mail.

A failing mail server never fails an order: the error is logged with its cause and the claim released,
so the next `send_due_emails` sweep (or a staff "resend") sends it. The price of that choice: a server
that took the message but dropped the connection before saying so gets it twice — rarer, and kinder,
than a receipt that never comes. The order remembers since when its e-mail fails and why
(`email_failing_since`, `email_error`), so health and the admin show e-mails failing for over
EMAIL_OVERDUE_AFTER (`overdue_emails`), and a success clears both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Count, F, Min, Q, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone

from providers.iccid import mask_iccid
from providers.units import format_gb
from pulse.models import OrderStatus, RenewalOrder
from pulse.services.money import format_money
from pulse.services.status_format import display_validity

logger = logging.getLogger(__name__)
S = OrderStatus

TEMPLATE_DIR = "pulse/emails"
# A sweep resends only recent messages: never a receipt for an order finished weeks ago.
SWEEP_WINDOW = timedelta(days=2)
SWEEP_LIMIT = 50
# An e-mail still failing after this long needs a person: health degrades, the admin lists the order.
EMAIL_OVERDUE_AFTER = timedelta(hours=1)
ERROR_TEXT_LIMIT = 200


@dataclass(frozen=True)
class EmailKind:
    template: str  # pulse/emails/<template>.txt and .html
    field: str  # RenewalOrder.<field>: when it was sent
    subject: str  # formatted with the order id only: provider strings never reach a header
    label: str  # for staff: "receipt e-mail"


KINDS: dict[str, EmailKind] = {
    S.COMPLETED: EmailKind(
        "receipt", "receipt_sent_at", "Your eSIM top-up is done (order {order_id})", "receipt e-mail"
    ),
    S.REFUNDED: EmailKind(
        "refunded",
        "refund_notice_sent_at",
        "Your payment for order {order_id} has been refunded",
        "refund e-mail",
    ),
    S.MANUAL_REVIEW: EmailKind(
        "manual_review",
        "review_notice_sent_at",
        "We are looking into your eSIM order {order_id}",
        "manual-review e-mail",
    ),
}


def kind_for(status: str) -> EmailKind | None:
    return KINDS.get(status)


def on_order_transition(order_pk: int, status: str) -> None:
    """The state machine's after-commit listener."""
    if status in KINDS:
        send_status_email(order_pk, status)


def send_status_email(order_pk: int, status: str, *, resend: bool = False) -> bool:
    """Send the e-mail for `status` if it is due; True when this call sent it.

    `resend` (a staff action) sends it again even if it was sent before.
    """
    kind = KINDS.get(status)
    order = RenewalOrder.objects.filter(pk=order_pk).first()
    if kind is None or order is None or not order.customer_email:
        return False
    if order.status != status:
        # The order moved on before the listener ran (e.g. a refund failed right after succeeding):
        # the old news would be wrong.
        logger.info("order %s: %s not sent, the order is now %s", order.order_id, kind.label, order.status)
        return False
    if resend:
        RenewalOrder.objects.filter(pk=order.pk).update(**{kind.field: None})
    claimed_at = _claim(order, kind)
    if claimed_at is None:
        return False
    try:
        build_message(order, kind).send(fail_silently=False)
    except Exception as exc:  # any backend failure (SMTP, DNS, TLS, a template bug) must not fail the order
        _record_failure(order, kind, claimed_at, failure_text(exc, order))
        return False
    if order.email_failing_since or order.email_error:
        RenewalOrder.objects.filter(pk=order.pk).update(email_failing_since=None, email_error="")
    logger.info("order %s: %s sent", order.order_id, kind.label, extra={"order_id": order.order_id})
    return True


def failure_text(exc: Exception, order: RenewalOrder) -> str:
    """The cause of a failed order e-mail, without the customer's address (see `mail_failure_text`)."""
    return mail_failure_text(exc, {order.customer_email: "<customer>"})


def mail_failure_text(exc: Exception, private: dict[str, str]) -> str:
    """The cause of a failed send, for the log and staff: the exception's type and message, with each
    `private` address replaced by its stand-in (SMTP errors quote the recipients) and without the SMTP
    password, on one line, bounded."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    for value, shown in (*private.items(), (settings.EMAIL_HOST_PASSWORD, "<password>")):
        if value:
            text = text.replace(value, shown)
    return text[:ERROR_TEXT_LIMIT]


def _record_failure(order: RenewalOrder, kind: EmailKind, claimed_at: datetime, text: str) -> None:
    logger.warning(
        "order %s: %s not sent (%s); will retry",
        order.order_id,
        kind.label,
        text,
        extra={"order_id": order.order_id},
    )
    # Release the claim (so a later sweep sends it) and remember since when and why it fails.
    RenewalOrder.objects.filter(pk=order.pk, **{kind.field: claimed_at}).update(
        **{kind.field: None},
        email_error=text,
        email_failing_since=Coalesce(F("email_failing_since"), Value(timezone.now())),
    )


def overdue_emails_q(now: datetime | None = None) -> Q:
    """Orders whose due e-mail has been failing for longer than EMAIL_OVERDUE_AFTER."""
    due = Q()
    for status, kind in KINDS.items():
        due |= Q(status=status, **{f"{kind.field}__isnull": True})
    cutoff = (now or timezone.now()) - EMAIL_OVERDUE_AFTER
    return due & ~Q(customer_email="") & Q(email_failing_since__lt=cutoff)


def overdue_emails(now: datetime | None = None) -> tuple[int, datetime | None]:
    """How many e-mails are overdue and since when the oldest fails (one query; polled by health)."""
    found = RenewalOrder.objects.filter(overdue_emails_q(now)).aggregate(
        count=Count("pk"), since=Min("email_failing_since")
    )
    return found["count"], found["since"]


def send_due_emails(*, limit: int = SWEEP_LIMIT) -> int:
    """Send e-mails that are due but were never sent (mail server down, process killed before the
    after-commit listener ran). For the reconciler's pass; returns how many were sent."""
    since = timezone.now() - SWEEP_WINDOW
    sent = 0
    for status, kind in KINDS.items():
        due = (
            RenewalOrder.objects.filter(
                status=status, updated_at__gte=since, **{f"{kind.field}__isnull": True}
            )
            .exclude(customer_email="")
            .order_by("updated_at")
            .values_list("pk", flat=True)[:limit]
        )
        sent += sum(send_status_email(pk, status) for pk in due)
    return sent


def build_message(order: RenewalOrder, kind: EmailKind) -> EmailMultiAlternatives:
    """Text and HTML bodies from Django templates; the HTML one is auto-escaped."""
    context = email_context(order)
    text = render_to_string(f"{TEMPLATE_DIR}/{kind.template}.txt", context)
    html = render_to_string(f"{TEMPLATE_DIR}/{kind.template}.html", context)
    message = EmailMultiAlternatives(
        subject=kind.subject.format(order_id=order.order_id),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[order.customer_email],
    )
    message.attach_alternative(html, "text/html")
    return message


def email_context(order: RenewalOrder) -> dict[str, object]:
    return {
        "order_id": order.order_id,
        "bundle_name": order.bundle_name,
        "data": "Unlimited" if order.unlimited else (format_gb(order.data_bytes) if order.data_bytes else ""),
        "validity": display_validity(order.duration_days) if order.duration_days else "",
        "amount": format_money(order.amount, order.currency),
        "currency": order.currency.upper(),
        "iccid": mask_iccid(order.iccid),
        "completed_at": order.completed_at,
        "refunded_at": order.refunded_at,
    }


def _claim(order: RenewalOrder, kind: EmailKind) -> datetime | None:
    """Stamp the field if nobody has: the one caller that wins sends the e-mail."""
    now = timezone.now()
    won = RenewalOrder.objects.filter(pk=order.pk, **{f"{kind.field}__isnull": True}).update(
        **{kind.field: now}
    )
    return now if won else None
