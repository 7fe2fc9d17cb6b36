"""The recording transport: what is kept of each exchange, for JSON, CSV, text and binary answers."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from providers.cache import MemoryCache
from providers.errors import ProviderError
from providers.recording.capture import Recorder, relative_path
from providers.recording.redact import Redactor
from providers.travelroam import TravelRoamClient

BASE = "https://travelroam.example.net/api/whitelabel"
ICCID = "8944000000000000308"
MATCHING = "PLANTED-CSV-MATCH-01"


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Shadows the repository-wide cache fixture: nothing here uses Django."""


def recorded_client() -> tuple[TravelRoamClient, Recorder]:
    recorder, session = Recorder(), requests.Session()
    recorder.attach("travelroam", session, BASE)
    client = TravelRoamClient(
        base_url=BASE,
        api_key="fake-key-0001",
        client_secret="fake-secret-0001",
        cache=MemoryCache(),
        session=session,
    )
    return client, recorder


def test_relative_path_stays_inside_the_base_url():
    assert relative_path(BASE, f"{BASE}/esims/details") == "/esims/details"
    assert relative_path(BASE, f"{BASE}/getesimassignments?orderReference=x") == "/getesimassignments"
    assert relative_path(BASE, "https://travelroam.example.net/api/whitelabel-other/x") is None
    assert relative_path(BASE, "https://other.example.net/api/whitelabel/x") is None
    assert relative_path(BASE.upper().replace("/API/WHITELABEL", "/api/whitelabel"), f"{BASE}/x") == "/x"


@responses.activate
def test_a_csv_answer_is_redacted_column_by_column():
    csv_body = f"iccid,matchingId,smdpAddress,profileStatus\n{ICCID},{MATCHING},rsp.example.net,Released\n"
    responses.get(f"{BASE}/getesimassignments", body=csv_body, content_type="text/csv")
    client, recorder = recorded_client()
    with pytest.raises(ProviderError):  # the client wants JSON: a CSV answer is invalid to it
        client.assignments("0b6f3a52-1c1e-4d0a-9a55-6f1e2d3c4b5a")
    (raw,) = recorder.raw("travelroam")
    exchange = raw.redact(Redactor({"TRAVELROAM_API_KEY": "fake-key-0001"}))
    assert exchange.body is None
    header, row = exchange.body_text.splitlines()
    assert header == "iccid,matchingId,smdpAddress,profileStatus"
    fake_iccid, fake_matching, smdp, status = row.split(",")
    assert fake_iccid != ICCID
    assert fake_iccid.startswith("89")
    assert len(fake_iccid) == len(ICCID)
    assert fake_matching != MATCHING
    assert len(fake_matching) == len(MATCHING)
    assert (smdp, status) == ("rsp.example.net", "Released")
    assert exchange.query == [["orderReference", exchange.query[0][1]]]
    assert "0b6f3a52" not in json.dumps(exchange.to_json())
    assert exchange.request_headers["x-api-key"] != "fake-key-0001"
    assert "User-Agent" not in exchange.request_headers  # only the headers that matter


@responses.activate
def test_text_and_binary_answers_are_kept_as_text_or_left_out():
    responses.post(f"{BASE}/esims/details", body=f"<html>ICCID {ICCID} unknown</html>", status=404)
    responses.post(f"{BASE}/esims/applied/bundles", body=b"\x89PNG\x00\xff\xfe", status=200)
    responses.post(
        f"{BASE}/esims/location", json={}, headers={"Set-Cookie": "session=planted", "Retry-After": "7"}
    )
    client, recorder = recorded_client()
    with pytest.raises(ProviderError):
        client.lookup(ICCID)
    redactor = Redactor()
    exchanges = {raw.path: raw.redact(redactor) for raw in recorder.raw("travelroam")}
    details = exchanges["/esims/details"]
    assert details.status == 404
    assert details.body_text.startswith("<html>ICCID 89")
    assert ICCID not in details.body_text
    assert exchanges["/esims/applied/bundles"].body_text == "<7 bytes of binary content, not recorded>"
    location = exchanges["/esims/location"]
    assert location.body == {}
    assert location.response_headers == {"Content-Type": "application/json", "Retry-After": "7"}
    assert details.request_body == {"iccid": exchanges["/esims/location"].request_body["iccid"]}
