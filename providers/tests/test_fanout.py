import threading
import time

from providers.base import EsimRecord, StatusCode
from providers.errors import ProviderNotFound, ProviderRejected, ProviderUnavailable
from providers.fanout import fan_out
from providers.tests.fakes import FakeProvider

ICCID = "8944000000000000100"


def record(provider: str) -> EsimRecord:
    return EsimRecord(provider=provider, iccid=ICCID, reference="ref", status=StatusCode.ACTIVE)


def test_every_provider_gets_an_outcome_in_call_order():
    found = FakeProvider("airhub", {ICCID: record("airhub")})
    missing = FakeProvider("esimcard")
    failing = FakeProvider("travelroam")
    failing.behaviour = ProviderUnavailable("travelroam", "HTTP 500")
    outcomes = fan_out(
        {
            "airhub": lambda: found.lookup(ICCID),
            "esimcard": lambda: missing.lookup(ICCID),
            "travelroam": lambda: failing.lookup(ICCID),
        },
        deadline=5,
        grace=5,
    )
    assert list(outcomes) == ["airhub", "esimcard", "travelroam"]
    assert {name: o.source for name, o in outcomes.items()} == {
        "airhub": "found",
        "esimcard": "not_found",
        "travelroam": "error:unavailable",
    }
    assert outcomes["airhub"].record == record("airhub")


def test_a_provider_slower_than_the_deadline_is_reported_as_timeout():
    slow = FakeProvider("esimcard")
    try:
        outcomes = fan_out({"esimcard": lambda: slow.block_until_released(ICCID)}, deadline=0.2, grace=0.1)
    finally:
        slow.release.set()
    assert outcomes["esimcard"].source == "error:timeout"


def test_once_a_provider_found_the_esim_a_slow_one_gets_only_the_grace_period():
    fast = FakeProvider("travelroam", {ICCID: record("travelroam")})
    slow = FakeProvider("airhub")
    try:
        outcomes = fan_out(
            {"travelroam": lambda: fast.lookup(ICCID), "airhub": lambda: slow.block_until_released(ICCID)},
            deadline=30,
            grace=0.1,
        )
    finally:
        slow.release.set()
    assert outcomes["travelroam"].source == "found"
    assert outcomes["airhub"].source == "error:timeout"


def test_a_provider_still_searching_is_pending_and_its_outcome_is_handed_over_after():
    fast = FakeProvider("travelroam", {ICCID: record("travelroam")})
    searching = FakeProvider("esimcard")
    late: list[dict] = []
    handed_over = threading.Event()

    def on_late(outcomes):
        late.append(outcomes)
        handed_over.set()

    started = time.monotonic()
    try:
        outcomes = fan_out(
            {
                "travelroam": lambda: fast.lookup(ICCID),
                "esimcard": lambda: searching.block_until_released(ICCID),
            },
            deadline=30,
            grace=30,  # a per-eSIM read would be waited for this long; a search is not
            searching={"esimcard"},
            search_grace=0.05,
            on_late=on_late,
        )
        answered_in = time.monotonic() - started
        assert not handed_over.is_set()  # the search is still running when the answer is ready
    finally:
        searching.release.set()
    assert answered_in < 5
    assert outcomes["travelroam"].source == "found"
    assert outcomes["esimcard"].source == "error:pending"
    assert outcomes["esimcard"].as_of is None
    assert handed_over.wait(5)
    assert list(late[0]) == ["esimcard"]
    assert late[0]["esimcard"].source == "not_found"


def test_a_search_is_waited_for_until_the_deadline_when_nobody_found_the_esim():
    searching = FakeProvider("esimcard")
    try:
        outcomes = fan_out(
            {"esimcard": lambda: searching.block_until_released(ICCID)},
            deadline=0.2,
            grace=0.1,
            searching={"esimcard"},
            search_grace=0.01,
        )
    finally:
        searching.release.set()
    assert outcomes["esimcard"].source == "error:timeout"


def test_a_crashing_client_does_not_sink_the_others():
    def crash():
        raise KeyError("bug")

    good = FakeProvider("airhub", {ICCID: record("airhub")})
    outcomes = fan_out({"airhub": lambda: good.lookup(ICCID), "esimcard": crash}, deadline=5, grace=5)
    assert outcomes["airhub"].found
    assert outcomes["esimcard"].source == "error:internal"


def test_rejections_and_not_found_are_distinguished():
    rejected = FakeProvider("airhub")
    rejected.behaviour = ProviderRejected("airhub", "bad credentials")
    missing = FakeProvider("esimcard")
    missing.behaviour = ProviderNotFound("esimcard", "nope")
    outcomes = fan_out(
        {"airhub": lambda: rejected.lookup(ICCID), "esimcard": lambda: missing.lookup(ICCID)},
        deadline=5,
        grace=5,
    )
    assert outcomes["airhub"].source == "error:rejected"
    assert outcomes["esimcard"].not_found
