"""`manage.py provider_smoke`: one line per provider with its probe result and circuit-breaker state
(tests run with ESIM_SANDBOX=true, so every provider is its in-process simulator)."""

from io import StringIO

import pytest
from django.core.management import call_command

from pulse.services.providers import breaker


def _run() -> list[str]:
    out = StringIO()
    call_command("provider_smoke", stdout=out)
    return out.getvalue().splitlines()


def _line(lines: list[str], name: str) -> str:
    return next(line for line in lines if line.split()[:1] == [name])


def test_a_healthy_provider_shows_its_closed_breaker():
    lines = _run()
    assert lines[0] == "providers (sandbox simulators):"
    for name in ("airhub", "esimcard", "travelroam"):
        assert _line(lines, name).endswith(", breaker closed (0 failures)"), lines


def test_failures_below_the_threshold_are_counted_on_a_closed_breaker():
    breaker("esimcard").record_failure()
    assert _line(_run(), "esimcard").endswith(", breaker closed (1 failure)")


def test_an_open_breaker_is_shown_with_its_failure_count(settings):
    settings.PROVIDER_BREAKER_THRESHOLD = 2
    airhub = breaker("airhub")
    airhub.record_failure()
    airhub.record_failure()
    line = _line(_run(), "airhub")
    assert line.startswith("  airhub      ok, auth ok, ")
    assert line.endswith(", breaker open (2 failures)")


def test_a_breaker_past_its_cooldown_is_half_open(settings):
    settings.PROVIDER_BREAKER_THRESHOLD = 1
    settings.PROVIDER_BREAKER_COOLDOWN = 0
    breaker("travelroam").record_failure()
    assert _line(_run(), "travelroam").endswith(", breaker half-open (1 failure)")


@pytest.mark.django_db
def test_a_failed_probe_still_shows_the_breaker(monkeypatch):
    from providers.errors import ProviderUnavailable
    from pulse.services import providers as registry

    def refuse():
        raise ProviderUnavailable("esimcard", "connection refused")

    monkeypatch.setattr(registry.enabled_clients()["esimcard"], "probe", refuse)
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("provider_smoke", stdout=out, stderr=StringIO())
    line = _line(out.getvalue().splitlines(), "esimcard")
    assert line.startswith("  esimcard    FAILED unavailable: connection refused (")
    assert line.endswith(", breaker closed (0 failures)")
