"""Which provider clients exist, built once per process from settings (read lazily, never at import).

A provider is enabled when its credentials are set, or when ESIM_SANDBOX routes it to the built-in
simulator (in-process, through a requests transport adapter, so every client code path runs; the
simulated world is shared by every process through the ESIM_SANDBOX_STATE file).
Health state per provider comes from recent call outcomes and cheap cached probes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import requests
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from providers.airhub import AirHubClient
from providers.base import AIRHUB, ESIMCARD, PROVIDER_NAMES, TRAVELROAM, ProviderClient
from providers.breaker import OPEN, CircuitBreaker, GuardedClient
from providers.cache import CacheLike
from providers.errors import ProviderError, ProviderNotFound
from providers.esimcard import ESimCardClient
from providers.http import build_session
from providers.travelroam import TravelRoamClient
from pulse.services.safe_cache import safe_cache as cache

logger = logging.getLogger(__name__)

HEALTH_KEY = "provider:health:{name}"
HEALTH_TTL = 300  # seconds a probe or call outcome stands for the provider's health
PROBE_LOCK_KEY = "provider:probe-lock:{name}"
HEALTH_REWRITE_SECONDS = 10.0
_health_written: dict[str, tuple[bool, float]] = {}  # this process's last mark per provider

_clients: dict[str, ProviderClient] | None = None
_clients_lock = threading.Lock()


def _timeout() -> tuple[float, float]:
    return (settings.PROVIDER_CONNECT_TIMEOUT, settings.PROVIDER_TIMEOUT)


def sandbox_world():
    """The simulators' world (ESIM_SANDBOX): the one every process shares through ESIM_SANDBOX_STATE,
    or this process's own when that is "memory". The state file's HMAC is keyed by SECRET_KEY."""
    from providers.sandbox import get_default_world

    return get_default_world(settings.ESIM_SANDBOX_STATE or None, state_secret=settings.SECRET_KEY)


def _session(base_url: str):
    session = build_session(base_url=base_url)
    if settings.ESIM_SANDBOX:
        from providers.sandbox import mount_sandbox

        mount_sandbox(session, sandbox_world())
    return session


def _credentials() -> dict[str, dict[str, str]]:
    if settings.ESIM_SANDBOX:
        from providers.sandbox import SANDBOX_CREDENTIALS, sandbox_base_urls

        urls = sandbox_base_urls()
        return {name: {**SANDBOX_CREDENTIALS[name], "base_url": urls[name]} for name in PROVIDER_NAMES}
    return {
        AIRHUB: {
            "base_url": settings.AIRHUB_BASE_URL,
            "username": settings.AIRHUB_USERNAME,
            "password": settings.AIRHUB_PASSWORD,
        },
        ESIMCARD: {
            "base_url": settings.ESIMCARD_BASE_URL,
            "email": settings.ESIMCARD_EMAIL,
            "password": settings.ESIMCARD_PASSWORD,
        },
        TRAVELROAM: {
            "base_url": settings.TRAVELROAM_BASE_URL,
            "api_key": settings.TRAVELROAM_API_KEY,
            "client_secret": settings.TRAVELROAM_CLIENT_SECRET,
        },
    }


# Provider → (client class, the credential fields that must all be set for it to be enabled).
_CLIENT_CLASSES: dict[str, tuple[Callable[..., ProviderClient], tuple[str, ...]]] = {
    AIRHUB: (AirHubClient, ("username", "password")),
    ESIMCARD: (ESimCardClient, ("email", "password")),
    TRAVELROAM: (TravelRoamClient, ("api_key", "client_secret")),
}


def _build(
    name: str,
    credentials: dict[str, str],
    *,
    client_cache: CacheLike = cache,
    prepare_session: Callable[[requests.Session, str], None] | None = None,
) -> ProviderClient | None:
    client_class, required = _CLIENT_CLASSES[name]
    if not all(credentials[field] for field in required):
        return None
    session = _session(credentials["base_url"])
    if prepare_session is not None:
        prepare_session(session, credentials["base_url"])
    return client_class(
        **credentials, cache=client_cache, session=session, timeout=_timeout(), **_options(name)
    )


def build_client(
    name: str, *, client_cache: CacheLike, prepare_session: Callable[[requests.Session, str], None]
) -> ProviderClient | None:
    """A bare client (no breaker, its own cache) for tools such as `provider_smoke --record`, which
    must neither share the workers' tokens and indexes nor count towards their breakers.
    `prepare_session(session, base_url)` may wrap the transport. None when not configured."""
    return _build(name, _credentials()[name], client_cache=client_cache, prepare_session=prepare_session)


def _options(name: str) -> dict:
    """Per-provider client options from settings."""
    if name == TRAVELROAM:
        return {
            "currency": settings.TRAVELROAM_ACCOUNT_CURRENCY,
            "location_max_age": settings.TRAVELROAM_LOCATION_MAX_AGE,
        }
    if name == ESIMCARD:
        return {"index_max_age": settings.PROVIDER_INDEX_MAX_AGE}
    return {"history_ttl": settings.PROVIDER_INDEX_MAX_AGE}


def enabled_clients() -> dict[str, ProviderClient]:
    """Provider name → client, for every provider that is configured (or sandboxed)."""
    global _clients
    with _clients_lock:
        if _clients is None:
            credentials = _credentials()
            built = {name: _build(name, credentials[name]) for name in PROVIDER_NAMES}
            _clients = {
                name: GuardedClient(client, breaker(name)) for name, client in built.items() if client
            }
            logger.info(
                "providers enabled: %s%s",
                ", ".join(_clients) or "none",
                " (sandbox)" if settings.ESIM_SANDBOX else "",
            )
        return dict(_clients)


def breaker(name: str) -> CircuitBreaker:
    """The provider's circuit breaker; its state lives in the shared cache, so this is cheap."""
    return CircuitBreaker(
        name,
        cache,
        threshold=settings.PROVIDER_BREAKER_THRESHOLD,
        cooldown=settings.PROVIDER_BREAKER_COOLDOWN,
    )


def breaker_states() -> dict[str, str]:
    clients = enabled_clients()
    return {name: breaker(name).state() if name in clients else "not_configured" for name in PROVIDER_NAMES}


def provider_client(name: str) -> ProviderClient | None:
    return enabled_clients().get(name)


def reset_clients() -> None:
    global _clients
    with _clients_lock:
        _clients = None
    _health_written.clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    if setting.startswith(("AIRHUB_", "ESIMCARD_", "TRAVELROAM_", "ESIM_SANDBOX", "PROVIDER_")):
        # PROVIDER_BREAKER_* are read per call; rebuilding is harmless and keeps one rule.
        reset_clients()


def record_outcome(name: str, error: Exception | None) -> None:
    """Remember whether the provider answered sensibly; feeds health without extra calls.

    A process writes the mark when it changes, else at most every HEALTH_REWRITE_SECONDS: a warm
    check then costs no cache write, and another worker's "unhealthy" stands at most that long
    after calls succeed again.
    """
    healthy = error is None or isinstance(error, ProviderNotFound)
    now = time.monotonic()
    last = _health_written.get(name)
    if last is not None and last[0] == healthy and now - last[1] < HEALTH_REWRITE_SECONDS:
        return
    cache.set(HEALTH_KEY.format(name=name), healthy, HEALTH_TTL)
    _health_written[name] = (healthy, now)


def provider_health(breakers: dict[str, str] | None = None) -> dict[str, object]:
    """Per provider: True/False from recent outcomes or a cached probe, or "not_configured".

    When nothing recent is known, one process probes (a login or a catalogue read, never a paid
    call) and the result stands for HEALTH_TTL seconds for every worker.
    """
    clients = enabled_clients()
    report: dict[str, object] = {}
    for name in PROVIDER_NAMES:
        client = clients.get(name)
        if client is None:
            report[name] = "not_configured"
            continue
        breaker_state = breakers[name] if breakers is not None else breaker(name).state()
        if breaker_state == OPEN:
            report[name] = False  # skipped until its cooldown ends; no probe needed to know that
            continue
        state = _cached_health(name)
        if state is None:
            state = _probe(name, client) if _claim_probe(name) else True  # another worker is probing
        report[name] = bool(state)
    return report


def _cached_health(name: str) -> bool | None:
    return cache.get(HEALTH_KEY.format(name=name))


def _claim_probe(name: str) -> bool:
    # Without a working shared cache every worker may probe; probes are cheap and unpaid.
    return cache.add(PROBE_LOCK_KEY.format(name=name), 1, 30)


def _probe(name: str, client: ProviderClient) -> bool:
    try:
        client.probe()
    except ProviderError as exc:
        logger.warning("%s probe failed: %s", name, exc.code, extra={"provider": name})
        record_outcome(name, exc)
        return False
    record_outcome(name, None)
    return True
