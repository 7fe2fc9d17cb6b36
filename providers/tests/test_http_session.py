"""The pooled session reads proxy settings once, for its provider's host."""

from providers.http import build_session


def test_proxy_and_no_proxy_are_honoured_once_at_build_time(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    proxied = build_session(base_url="https://api.provider.example/v1")
    bypassed = build_session(base_url="https://bypassed.example/api")
    assert proxied.proxies["https"] == "http://proxy.internal:3128"
    assert "https" not in bypassed.proxies
    assert proxied.trust_env is False


def test_without_a_base_url_requests_reads_the_environment_per_call():
    assert build_session().trust_env is True
