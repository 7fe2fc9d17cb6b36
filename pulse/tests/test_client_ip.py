"""pulse.client_ip.client_ip: REMOTE_ADDR unless trusted proxies say otherwise (TRUSTED_PROXY_COUNT)."""

import pytest
from django.test import RequestFactory, override_settings

from esim_status_checker.tests.test_settings import PRODUCTION_ENV, run_manage
from pulse.client_ip import client_ip

PEER = "198.51.100.10"  # the connection's address (the nearest proxy, or the client itself)


def ip_of(forwarded: str | None, *, proxies: int, remote: str = PEER) -> str:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        return client_ip(RequestFactory().get("/", **extra))


@pytest.mark.parametrize(
    "forwarded",
    [None, "", "203.0.113.7", "203.0.113.7, 192.0.2.1", "garbage", "10.0.0.1, 10.0.0.2, 10.0.0.3"],
)
def test_without_trusted_proxies_the_header_is_ignored(forwarded):
    assert ip_of(forwarded, proxies=0) == PEER


@pytest.mark.parametrize(
    ("forwarded", "proxies", "expected"),
    [
        # One proxy: it appended the client's address as the last entry; the rest is the client's word.
        ("203.0.113.7", 1, "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),
        ("1.1.1.1, 2.2.2.2, 203.0.113.7", 1, "203.0.113.7"),
        # Two proxies (CDN, then load balancer): the CDN wrote the client, the balancer wrote the CDN.
        ("203.0.113.7, 192.0.2.50", 2, "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7, 192.0.2.50", 2, "203.0.113.7"),
        # Fewer entries than proxies: not through our proxies as configured; never trust the header then.
        ("192.0.2.50", 2, PEER),
        # Ports, brackets, IPv6, spaces: the canonical address.
        ("203.0.113.7:51234", 1, "203.0.113.7"),
        ("[2001:db8::7]:443", 1, "2001:db8::7"),
        ("2001:DB8:0:0::7", 1, "2001:db8::7"),
        ("6.6.6.6 ,  203.0.113.7  ", 1, "203.0.113.7"),
    ],
)
def test_the_nth_address_from_the_right_with_n_trusted_proxies(forwarded, proxies, expected):
    assert ip_of(forwarded, proxies=proxies) == expected


@pytest.mark.parametrize(
    "forwarded",
    [
        "",  # a proxy that sent an empty header: no information
        "unknown",  # nginx's placeholder
        "203.0.113.7, ",  # an empty slot where the proxy's entry should be
        "203.0.113.7,,",
        "not-an-ip",
        "999.1.1.1",
        "[2001:db8::7",
        "x" * 5000,
    ],
)
def test_a_malformed_entry_falls_back_to_the_connection_never_to_client_text(forwarded):
    assert ip_of(forwarded, proxies=1) == PEER


def test_no_peer_address_is_one_shared_bucket_not_a_free_pass():
    assert ip_of(None, proxies=0, remote="") == ""
    assert ip_of("garbage", proxies=1, remote="") == ""
    assert ip_of("203.0.113.7", proxies=0, remote="not-an-address") == ""


@pytest.mark.parametrize(("value", "expected"), [("", "0 0"), ("0", "0 0"), ("2", "2 2")])
def test_the_setting_keeps_zero_as_zero_for_drf_too(value, expected):
    """`env_int(...) or None` once turned 0 into None, which makes DRF trust the whole header."""
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; "
        "print(settings.TRUSTED_PROXY_COUNT, settings.REST_FRAMEWORK['NUM_PROXIES'])",
        env={**PRODUCTION_ENV, "TRUSTED_PROXY_COUNT": value},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_negative_proxy_count_stops_the_start():
    result = run_manage("check", env={**PRODUCTION_ENV, "TRUSTED_PROXY_COUNT": "-1"})
    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be 0 or more" in result.stderr
