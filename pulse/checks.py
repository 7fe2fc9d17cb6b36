"""System checks: a misconfigured deployment is caught by `manage.py check --deploy`, not by customers.

Each check names the setting to fix in its message and says how in its hint; docs/reliability.md
("Misconfiguration → what check --deploy says") lists them all. Deploy checks run only with
`--deploy` (so development, CI and the tests are not nagged); `check_email` runs with every `check`
(and `runserver`, `migrate`), because what it catches fails the first e-mail in any environment.

Silence one you have decided to live with through `SILENCED_SYSTEM_CHECKS` (e.g. `pulse.W006` for a
deployment that truly runs a single process).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
# Backends that accept a message and deliver it to nobody.
NOWHERE_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "prints e-mails to the console",
    "django.core.mail.backends.locmem.EmailBackend": "keeps e-mails in memory",
    "django.core.mail.backends.dummy.EmailBackend": "throws e-mails away",
}
# Provider -> the settings that must all be set for it to be enabled (pulse.services.providers).
PROVIDER_CREDENTIALS = {
    "AirHub": ("AIRHUB_USERNAME", "AIRHUB_PASSWORD"),
    "eSIMCard": ("ESIMCARD_EMAIL", "ESIMCARD_PASSWORD"),
    "TravelRoam": ("TRAVELROAM_API_KEY", "TRAVELROAM_CLIENT_SECRET"),
}


# --- sandbox in production (issue 11 item 3) ----------------------------------------------------


@register(Tags.security, deploy=True)
def check_sandbox(app_configs=None, **kwargs) -> list[Warning]:
    messages = []
    if settings.PAYMENT_GATEWAY == "sandbox":
        messages.append(
            Warning(
                "PAYMENT_GATEWAY=sandbox: checkouts take no money, while the top-ups they trigger are "
                "real when provider credentials are set.",
                hint="Set PAYMENT_GATEWAY=stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET. "
                "SANDBOX_PAYMENTS_ALLOWED=true is for CI and demo deployments only.",
                id="pulse.W001",
            )
        )
    if settings.ESIM_SANDBOX:
        messages.append(
            Warning(
                "ESIM_SANDBOX=true: every eSIM answer and top-up comes from the built-in simulators, "
                "not from AirHub, eSIMCard or TravelRoam.",
                hint="Set ESIM_SANDBOX=false and the provider credentials (AIRHUB_*, ESIMCARD_*, TRAVELROAM_*).",
                id="pulse.W002",
            )
        )
    return messages


# --- production misconfiguration (issue 11 item 6) ----------------------------------------------


@register(Tags.security, deploy=True)
def check_stripe(app_configs=None, **kwargs) -> list[Error]:
    if settings.PAYMENT_GATEWAY != "stripe":
        return []
    messages = []
    if not settings.STRIPE_SECRET_KEY:
        messages.append(
            Error(
                "PAYMENT_GATEWAY=stripe without STRIPE_SECRET_KEY: every checkout and refund fails.",
                hint="Set STRIPE_SECRET_KEY to the secret key (sk_live_… or sk_test_…) from the Stripe "
                "dashboard, Developers → API keys.",
                id="pulse.E001",
            )
        )
    elif (mismatch := _stripe_mode_mismatch()) is not None:
        messages.append(
            Error(
                f"{mismatch}: the Stripe gateway refuses to start, so every checkout fails.",
                hint="Use a live key (sk_live_…) with STRIPE_LIVE_MODE=true, or a test key (sk_test_…) "
                "with STRIPE_LIVE_MODE=false.",
                id="pulse.E004",
            )
        )
    if not settings.STRIPE_WEBHOOK_SECRET:
        messages.append(
            Error(
                "PAYMENT_GATEWAY=stripe without STRIPE_WEBHOOK_SECRET: every Stripe webhook is refused, so "
                "payments are only noticed when the customer returns or the reconciler polls.",
                hint="Set STRIPE_WEBHOOK_SECRET to the signing secret (whsec_…) of the webhook endpoint "
                "https://<host>/api/esim/stripe/webhook/ in the Stripe dashboard.",
                id="pulse.E002",
            )
        )
    return messages


@register(Tags.security, deploy=True)
def check_public_urls(app_configs=None, **kwargs) -> list[Warning]:
    messages = []
    local_origins = [origin for origin in settings.CORS_ALLOWED_ORIGINS if not _public_https(origin)]
    if local_origins:
        messages.append(
            Warning(
                f"CORS_ALLOWED_ORIGINS allows {', '.join(local_origins)}: a local or plain-http origin, "
                "not where the production frontend runs.",
                hint="Set CORS_ALLOWED_ORIGINS to the frontend's https origin(s), e.g. https://www.example.com.",
                id="pulse.W003",
            )
        )
    if not _public_https(settings.FRONTEND_URL):
        messages.append(
            Warning(
                f"FRONTEND_URL is {settings.FRONTEND_URL!r}: Stripe would send paying customers back to "
                "a local or plain-http address.",
                hint="Set FRONTEND_URL to the frontend's https address, e.g. https://www.example.com.",
                id="pulse.W004",
            )
        )
    # PUBLIC_BASE_URL may not exist in an older settings module: nothing to check then.
    public_base_url = getattr(settings, "PUBLIC_BASE_URL", None)
    if public_base_url is not None and not _public_https(public_base_url):
        messages.append(
            Warning(
                f"PUBLIC_BASE_URL is {public_base_url!r}: links to this service's own pages (checkout, "
                "e-mails) would point at a local or plain-http address.",
                hint="Set PUBLIC_BASE_URL to this API's public https address, e.g. https://api.example.com.",
                id="pulse.W005",
            )
        )
    return messages


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs=None, **kwargs) -> list[Warning]:
    if settings.REDIS_URL:
        return []
    return [
        Warning(
            "REDIS_URL is not set: rate limits, locks, circuit breakers and provider tokens live in each "
            "process's memory, so 4 workers allow 4 times the rate limits and log in 4 times.",
            hint="Set REDIS_URL (e.g. redis://cache:6379/0). Running truly one process? Add pulse.W006 "
            "to SILENCED_SYSTEM_CHECKS.",
            id="pulse.W006",
        )
    ]


@register(deploy=True)
def check_providers(app_configs=None, **kwargs) -> list[Error | Warning]:
    if settings.ESIM_SANDBOX:
        return []  # pulse.W002 speaks for it
    messages: list[Error | Warning] = []
    configured = []
    for provider, names in PROVIDER_CREDENTIALS.items():
        present = [name for name in names if getattr(settings, name)]
        if len(present) == len(names):
            configured.append(provider)
        elif present:
            missing = [name for name in names if name not in present]
            messages.append(
                Warning(
                    f"{provider} is disabled: {', '.join(present)} is set but {', '.join(missing)} is not.",
                    hint=f"Set {' and '.join(names)}, or neither to leave {provider} off on purpose.",
                    id="pulse.W007",
                )
            )
    if not configured:
        messages.append(
            Error(
                "No provider is configured and ESIM_SANDBOX is off: every status check answers 503 and no "
                "renewal can be sold.",
                hint="Set the credentials of at least one provider: AIRHUB_USERNAME and AIRHUB_PASSWORD, "
                "ESIMCARD_EMAIL and ESIMCARD_PASSWORD, or TRAVELROAM_API_KEY and TRAVELROAM_CLIENT_SECRET.",
                id="pulse.E003",
            )
        )
    return messages


# --- e-mail (issue 11 item 10) --------------------------------------------------------------------
# (EMAIL_USE_TLS with EMAIL_USE_SSL stops the process at start-up: the settings module refuses it.)


@register()
def check_email(app_configs=None, **kwargs) -> list[Error]:
    messages = []
    if settings.EMAIL_BACKEND == FILE_BACKEND and not getattr(settings, "EMAIL_FILE_PATH", None):
        messages.append(
            Error(
                "EMAIL_BACKEND is the file backend but EMAIL_FILE_PATH is not set: every e-mail fails.",
                hint="Set EMAIL_FILE_PATH to a directory this process may write, e.g. /var/spool/esim-mail.",
                id="pulse.E011",
            )
        )
    for name in ("EMAIL_SSL_CERTFILE", "EMAIL_SSL_KEYFILE"):
        path = getattr(settings, name, None)
        if path and not Path(path).is_file():
            messages.append(
                Error(
                    f"{name} is {path!r}, which is not a readable file: every SMTP connection fails.",
                    hint=f"Point {name} at the PEM file, or leave it empty if the SMTP server asks for no "
                    "client certificate.",
                    id="pulse.E012",
                )
            )
    return messages


@register(deploy=True)
def check_email_delivery(app_configs=None, **kwargs) -> list[Warning]:
    messages = []
    nowhere = NOWHERE_BACKENDS.get(settings.EMAIL_BACKEND)
    if nowhere:
        messages.append(
            Warning(
                f"EMAIL_BACKEND {nowhere}: customers get no receipt or refund notice.",
                hint="Set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST, "
                "EMAIL_PORT, EMAIL_HOST_USER and EMAIL_HOST_PASSWORD.",
                id="pulse.W010",
            )
        )
    if _domain_of(settings.DEFAULT_FROM_EMAIL) in {"example.com", "example.org", "example.net"}:
        messages.append(
            Warning(
                f"DEFAULT_FROM_EMAIL is {settings.DEFAULT_FROM_EMAIL!r}: mail servers reject or bin mail "
                "from example domains.",
                hint="Set DEFAULT_FROM_EMAIL to an address of your own domain, e.g. "
                "'eSIM Support <support@your-domain>'.",
                id="pulse.W011",
            )
        )
    return messages


# --- staff alerts (issue 14: provider wallets and the sales pause) -------------------------------


@register()
def check_staff_alert_emails(app_configs=None, **kwargs) -> list[Error]:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    bad = []
    for address in getattr(settings, "STAFF_ALERT_EMAILS", []):
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if not bad:
        return []
    return [
        Error(
            f"STAFF_ALERT_EMAILS holds {', '.join(repr(a) for a in bad)}, which is not an e-mail address: "
            "the alert about a provider's sales pause would not reach anyone.",
            hint="Set STAFF_ALERT_EMAILS to comma-separated addresses, e.g. ops@your-domain,oncall@your-domain.",
            id="pulse.E013",
        )
    ]


@register(deploy=True)
def check_staff_alerts_configured(app_configs=None, **kwargs) -> list[Warning]:
    if getattr(settings, "STAFF_ALERT_EMAILS", []):
        return []
    return [
        Warning(
            "STAFF_ALERT_EMAILS is empty: nobody is e-mailed when a provider's wallet runs dry and its "
            "renewals pause (only the admin banner and health show it).",
            hint="Set STAFF_ALERT_EMAILS to the addresses of the people who top up the provider wallets.",
            id="pulse.W012",
        )
    ]


# --- helpers -------------------------------------------------------------------------------------


def _stripe_mode_mismatch() -> str | None:
    """The gateway's own key/mode guard, asked without building the gateway."""
    from django.core.exceptions import ImproperlyConfigured

    from pulse.payments.stripe_gateway import _check_live_mode

    try:
        _check_live_mode(settings.STRIPE_SECRET_KEY, settings.STRIPE_LIVE_MODE)
    except ImproperlyConfigured as exc:
        return str(exc).rstrip(".")
    return None


def _public_https(url: str) -> bool:
    """An https URL whose host is a public name or address, not this machine or a private network."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith((".localhost", ".local")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name
    return address.is_global


def _domain_of(address: str) -> str:
    return address.rstrip(">").rsplit("@", 1)[-1].strip().lower()
