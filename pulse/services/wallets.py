"""Provider wallets and the sales guard (docs/operations.md, "Provider wallets and the sales pause").

Resellers prepay each provider; an empty wallet refuses every top-up, so every renewal paid after
that point is refunded. The guard stops selling a provider's bundles as soon as we know:

- **Pause** a provider when a top-up is refused for lack of funds (`note_insufficient_funds`, called by
  fulfilment with the provider's `ProviderInsufficientFunds`), or when a balance read is below the cost
  of the cheapest active bundle of that provider in the wallet's currency (`check_wallets`): then no
  bundle of it can be fulfilled.
- While paused, renewal options leave the provider's bundles out (and say why) and create answers
  503 `renewals_paused` before any order or checkout exists. Orders already paid are fulfilled or
  refunded as before.
- **Resume** by itself when a balance read shows at least `resume_at_balance` (the cost of the refused
  bundle, or of the cheapest bundle for a low-balance pause) in the same currency, or when staff press
  Resume in the admin. A pause staff made themselves is resumed by staff only.
- **Staff are told once per pause**: the transition is a compare-and-set (`UPDATE … WHERE paused =
  false`), so of several workers seeing refusals at once exactly one pauses, and the e-mail to
  STAFF_ALERT_EMAILS is claimed the same way (`alert_sent_at`); one that failed to send is retried by
  the next `check_wallets`. The admin shows a banner on every page, health is degraded and /metrics
  has `esim_provider_sales_paused`.
- **Low-balance warning**: below WALLET_WARN_BELOW[provider] staff get one e-mail per crossing; the
  warning re-arms when a read shows the balance back at or above the threshold.

Which providers are paused is read through the shared cache (WALLET_PAUSE_CACHE_SECONDS); the database
is the truth, and every transition clears the cached copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Min
from django.template.loader import render_to_string
from django.utils import timezone

from providers.base import PROVIDER_NAMES, WalletBalance
from providers.errors import ProviderError
from pulse.exceptions import ServiceUnavailable
from pulse.formatting import iso_utc
from pulse.models import Bundle, ProviderSalesPause
from pulse.services.emails import mail_failure_text
from pulse.services.money import format_money
from pulse.services.providers import enabled_clients
from pulse.services.safe_cache import safe_cache as cache

logger = logging.getLogger(__name__)
Cause = ProviderSalesPause.Cause

PAUSED_CACHE_KEY = "wallets:paused:v1"
CHECK_BY = "check_wallets"
TEMPLATE_DIR = "pulse/emails"
CUSTOMER_MESSAGE = (
    "Renewals for this eSIM are paused for a short while. Nothing has been charged; please try again later."
)


class RenewalsPaused(ServiceUnavailable):
    """503: the eSIM's provider cannot fulfil top-ups right now (its prepaid wallet ran dry)."""

    code = "renewals_paused"
    default_message = CUSTOMER_MESSAGE

    def __init__(self, message: str | None = None, **kwargs) -> None:
        kwargs.setdefault("retry_after", 600)
        super().__init__(message, **kwargs)


# --- reading the pause state --------------------------------------------------------------------------


def paused_providers() -> frozenset[str]:
    """Providers whose sales are paused: the cached copy, else the database (and cache it)."""
    cached = cache.get(PAUSED_CACHE_KEY)
    if isinstance(cached, list | tuple | frozenset | set):
        return frozenset(cached)
    paused = frozenset(ProviderSalesPause.objects.filter(paused=True).values_list("provider", flat=True))
    cache.set(PAUSED_CACHE_KEY, sorted(paused), timeout=settings.WALLET_PAUSE_CACHE_SECONDS)
    return paused


def is_paused(provider: str) -> bool:
    return provider in paused_providers()


def ensure_sales_open(provider: str) -> None:
    """Raise RenewalsPaused when the provider's sales are paused (before any order or checkout)."""
    if is_paused(provider):
        logger.info("renewal refused: %s sales are paused", provider, extra={"provider": provider})
        raise RenewalsPaused(details=f"The {provider} wallet cannot pay for top-ups right now.")


def _forget_cached_state() -> None:
    cache.delete(PAUSED_CACHE_KEY)


def _row(provider: str) -> ProviderSalesPause:
    """The provider's row, created on first use (two creators at once: one insert wins)."""
    row = ProviderSalesPause.objects.filter(provider=provider).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return ProviderSalesPause.objects.create(provider=provider)
    except IntegrityError:
        return ProviderSalesPause.objects.get(provider=provider)


def states() -> list[ProviderSalesPause]:
    """One row per provider (created when missing), in PROVIDER_NAMES order."""
    return [_row(provider) for provider in PROVIDER_NAMES]


# --- transitions ---------------------------------------------------------------------------------------


def pause(
    provider: str,
    *,
    cause: str,
    reason: str,
    resume_at: Decimal | None = None,
    currency: str = "",
) -> bool:
    """Pause the provider's sales; True only for the one caller that made the transition.

    That caller's commit sends the staff alert (once per pause)."""
    _row(provider)
    now = timezone.now()
    won = ProviderSalesPause.objects.filter(provider=provider, paused=False).update(
        paused=True,
        cause=cause,
        reason=reason[:500],
        since=now,
        resume_at_balance=resume_at,
        resume_currency=(currency or "")[:3].upper(),
        alert_sent_at=None,
        resumed_at=None,
        resumed_by="",
        pauses=F("pauses") + 1,
    )
    _forget_cached_state()
    if won:
        logger.warning("sales of %s paused: %s", provider, reason, extra={"provider": provider})
        transaction.on_commit(lambda: send_pause_alert(provider))
    return bool(won)


def resume(provider: str, *, by: str) -> bool:
    """Resume the provider's sales; True when it was paused and this call resumed it."""
    _row(provider)
    won = ProviderSalesPause.objects.filter(provider=provider, paused=True).update(
        paused=False, resumed_at=timezone.now(), resumed_by=by[:150]
    )
    _forget_cached_state()
    if won:
        logger.warning("sales of %s resumed by %s", provider, by, extra={"provider": provider})
    return bool(won)


def note_insufficient_funds(order, error: ProviderError) -> bool:
    """Fulfilment saw the provider refuse a top-up for lack of funds: pause that provider.

    Sales resume by themselves once a balance read shows the refused bundle's cost."""
    reason = (
        f"Top-up for order {order.order_id} refused: {error.message}"[:500]
        if error.message
        else f"Top-up for order {order.order_id} refused for lack of funds"
    )
    return pause(
        order.provider,
        cause=Cause.INSUFFICIENT_FUNDS,
        reason=reason,
        resume_at=order.provider_cost,
        currency=order.provider_cost_currency or "",
    )


# --- balance reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletCheck:
    provider: str
    balance: WalletBalance | None
    error: str
    paused: bool
    changed: str  # "", "paused", "resumed"
    warned: bool
    cheapest: Decimal | None

    def line(self) -> str:
        if self.balance is None:
            money = f"balance unknown ({self.error})"
        else:
            money = _money(self.balance.amount, self.balance.currency)
        state = "PAUSED" if self.paused else "selling"
        extra = f" ({self.changed} now)" if self.changed else ""
        warned = ", low-balance warning sent" if self.warned else ""
        return f"{self.provider}: {money}; sales {state}{extra}{warned}"


def _money(amount: Decimal, currency: str) -> str:
    """ "$12.50", or "12.50 XYZ" for a currency the service does not know (a provider may name any)."""
    try:
        return format_money(amount, currency)
    except Exception:  # an unknown or odd currency code must not break an alert
        return f"{amount} {currency}"


def cheapest_bundle_cost(provider: str, currency: str) -> Decimal | None:
    """The cost of the cheapest active bundle of the provider, in `currency` (None when none)."""
    found = Bundle.objects.filter(provider=provider, active=True, cost_currency=currency.upper()).aggregate(
        cheapest=Min("cost")
    )
    return found["cheapest"]


def check_wallets() -> list[WalletCheck]:
    """Read every enabled provider's wallet once; pause, resume and warn as the balances say."""
    results = []
    for provider, client in enabled_clients().items():
        results.append(check_wallet(provider, client))
    send_due_alerts()
    return results


def check_wallet(provider: str, client) -> WalletCheck:
    row = _row(provider)
    try:
        balance = client.wallet()
    except (ProviderError, NotImplementedError) as exc:
        text = f"{getattr(exc, 'code', type(exc).__name__)}: {getattr(exc, 'message', exc)}"[:300]
        logger.warning("wallet of %s not read: %s", provider, text, extra={"provider": provider})
        ProviderSalesPause.objects.filter(pk=row.pk).update(balance_error=text)
        return WalletCheck(provider, None, text, row.paused, "", False, None)
    ProviderSalesPause.objects.filter(pk=row.pk).update(
        last_balance=balance.amount,
        balance_currency=balance.currency[:3],
        balance_read_at=balance.as_of,
        balance_error="",
    )
    cheapest = cheapest_bundle_cost(provider, balance.currency)
    changed = ""
    row.refresh_from_db()
    if row.paused:
        if row.cause != Cause.STAFF and _enough_to_resume(row, balance, cheapest):
            changed = "resumed" if resume(provider, by=CHECK_BY) else ""
    elif cheapest is not None and balance.amount < cheapest:
        shown = _money(balance.amount, balance.currency)
        needed = _money(cheapest, balance.currency)
        reason = f"Wallet balance {shown} is below the cheapest bundle ({needed})"
        if pause(
            provider, cause=Cause.LOW_BALANCE, reason=reason, resume_at=cheapest, currency=balance.currency
        ):
            changed = "paused"
    paused = is_paused_in_db(provider)
    warned = _low_balance_warning(provider, balance, paused=paused)
    logger.info(
        "wallet of %s: %s %s%s",
        provider,
        balance.amount,
        balance.currency,
        " (sales paused)" if paused else "",
        extra={"provider": provider},
    )
    return WalletCheck(provider, balance, "", paused, changed, warned, cheapest)


def is_paused_in_db(provider: str) -> bool:
    return ProviderSalesPause.objects.filter(provider=provider, paused=True).exists()


def _enough_to_resume(row: ProviderSalesPause, balance: WalletBalance, cheapest: Decimal | None) -> bool:
    """A read shows enough funds: at least what the pause recorded as needed, in the same currency
    (else at least the cheapest bundle in the wallet's currency); never on a zero balance."""
    if balance.amount <= 0:
        return False
    if row.resume_at_balance is not None and row.resume_currency.upper() == balance.currency.upper():
        return balance.amount >= row.resume_at_balance
    if cheapest is not None:
        return balance.amount >= cheapest
    return False


def warn_threshold(provider: str) -> Decimal | None:
    return settings.WALLET_WARN_BELOW.get(provider)


def _low_balance_warning(provider: str, balance: WalletBalance, *, paused: bool) -> bool:
    """E-mail staff once when the balance falls below WALLET_WARN_BELOW; re-arm above it.

    While the provider is paused the pause alert already said it: the warning is marked, not sent."""
    threshold = warn_threshold(provider)
    rows = ProviderSalesPause.objects.filter(provider=provider)
    if threshold is None or balance.amount >= threshold:
        rows.filter(low_balance_warned_at__isnull=False).update(low_balance_warned_at=None)
        return False
    now = timezone.now()
    if not rows.filter(low_balance_warned_at__isnull=True).update(low_balance_warned_at=now):
        return False  # already told for this crossing
    if paused:
        return False
    if _send(
        "staff_wallet_low",
        f"Low {provider} wallet: {_money(balance.amount, balance.currency)}",
        {
            "provider": provider,
            "balance": _money(balance.amount, balance.currency),
            "threshold": _money(threshold, balance.currency),
            "read_at": iso_utc(balance.as_of),
            "admin_url": admin_url(),
        },
    ):
        return True
    # Not sent: release the claim so the next read tries again.
    rows.filter(low_balance_warned_at=now).update(low_balance_warned_at=None)
    return False


# --- staff e-mail -----------------------------------------------------------------------------------------


def admin_url() -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/admin/pulse/providersalespause/" if base else "/admin/pulse/providersalespause/"


def send_pause_alert(provider: str) -> bool:
    """E-mail staff about the provider's current pause unless that was done; True when this call sent it."""
    now = timezone.now()
    claimed = ProviderSalesPause.objects.filter(
        provider=provider, paused=True, alert_sent_at__isnull=True
    ).update(alert_sent_at=now)
    if not claimed:
        return False
    row = ProviderSalesPause.objects.get(provider=provider)
    balance = (
        _money(row.last_balance, row.balance_currency)
        if row.last_balance is not None and row.balance_currency
        else "not read yet"
    )
    sent = _send(
        "staff_sales_paused",
        f"Renewals paused: {provider} cannot take top-ups",
        {
            "provider": provider,
            "reason": row.reason,
            "since": iso_utc(row.since),
            "balance": balance,
            "resume_at": (
                _money(row.resume_at_balance, row.resume_currency)
                if row.resume_at_balance is not None and row.resume_currency
                else ""
            ),
            "staff_pause": row.cause == Cause.STAFF,
            "admin_url": admin_url(),
        },
    )
    if not sent:
        ProviderSalesPause.objects.filter(provider=provider, alert_sent_at=now).update(alert_sent_at=None)
    return sent


def send_due_alerts() -> int:
    """Pause alerts that could not be sent (mail server down): try again."""
    due = ProviderSalesPause.objects.filter(paused=True, alert_sent_at__isnull=True).values_list(
        "provider", flat=True
    )
    return sum(send_pause_alert(provider) for provider in list(due))


def _send(template: str, subject: str, context: dict) -> bool:
    recipients = list(settings.STAFF_ALERT_EMAILS)
    if not recipients:
        logger.warning("no STAFF_ALERT_EMAILS set: staff not e-mailed (%s)", subject)
        return True  # nothing to retry: the admin banner and health still say it
    body = render_to_string(f"{TEMPLATE_DIR}/{template}.txt", context)
    message = EmailMessage(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}{subject}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # a mail outage must never break fulfilment or the wallet check
        text = mail_failure_text(exc, dict.fromkeys(recipients, "<staff>"))
        logger.warning("staff alert not sent (%s); will retry", text)
        return False
    logger.info("staff alert sent: %s", subject)
    return True


# --- for health, metrics and the admin ---------------------------------------------------------------------


def wallet_health() -> tuple[dict[str, dict[str, object]], bool]:
    """Per enabled provider: sales open or paused, since when, whether the balance is low and when it
    was last read (amounts stay out of the public health answer: they are in /metrics and the admin).
    True when a provider is paused (health is then degraded)."""
    enabled = set(enabled_clients())
    rows = {row.provider: row for row in ProviderSalesPause.objects.filter(provider__in=enabled)}
    report: dict[str, dict[str, object]] = {}
    for provider in PROVIDER_NAMES:
        if provider not in enabled:
            continue
        row = rows.get(provider)
        paused = bool(row and row.paused)
        report[provider] = {
            "sales": "paused" if paused else "open",
            "paused_since": iso_utc(row.since) if paused and row else None,
            "balance_low": bool(row and row.low_balance_warned_at),
            "balance_read_at": iso_utc(row.balance_read_at) if row else None,
            "balance_read_ok": bool(row and row.balance_read_at and not row.balance_error),
        }
    return report, any(entry["sales"] == "paused" for entry in report.values())


def paused_rows() -> list[ProviderSalesPause]:
    return list(ProviderSalesPause.objects.filter(paused=True).order_by("provider"))


def last_balances() -> list[tuple[str, str, Decimal]]:
    """(provider, currency, balance) of every provider whose wallet was read."""
    return list(
        ProviderSalesPause.objects.filter(last_balance__isnull=False)
        .exclude(balance_currency="")
        .values_list("provider", "balance_currency", "last_balance")
    )
