"""Redaction of recordings, with planted values of every kind the issue names (no Django needed)."""

from __future__ import annotations

import json

import pytest

from providers.iccid import luhn_valid, validate_iccid
from providers.recording.placeholders import UUID_PATTERN, fake_iccid
from providers.recording.redact import Redactor
from providers.recording.scan import RecordingLeak, check_files

PASSWORD = "fake-Planted-Passw0rd!"
API_KEY = "fake-planted-api-key-7f3a9c"
USERNAME = "planted.reseller"
ICCID = "8944000000000000100"  # 19 digits, Luhn-valid
OTHER_ICCID = "89012345678901234567"  # 20 digits
UUID = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"


def redactor() -> Redactor:
    return Redactor({"AIRHUB_PASSWORD": PASSWORD, "TRAVELROAM_API_KEY": API_KEY, "AIRHUB_USERNAME": USERNAME})


def flat(value: object) -> str:
    return json.dumps(value)


def test_tokens_passwords_and_keys_become_fakes_of_the_same_shape():
    r = redactor()
    answer = r.json(
        {
            "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlLXBsYW50ZWQ",
            "access_token": "296|PlantedSanctumTokenValue0123456789",
            "password": PASSWORD,
            "apiKey": API_KEY,
            "client_secret": "planted-client-secret",
        }
    )
    text = flat(answer)
    for planted in (
        "eyJhbGciOiJIUzI1NiJ9",
        "PlantedSanctumTokenValue",
        PASSWORD,
        API_KEY,
        "planted-client-secret",
    ):
        assert planted not in text
    assert answer["access_token"].count("|") == 1
    assert len(answer["access_token"]) == len("296|PlantedSanctumTokenValue0123456789")
    assert answer["token"].count(".") == 2
    assert len(answer["password"]) == len(PASSWORD)


def test_a_token_gets_the_same_fake_in_the_answer_and_in_later_headers():
    r = redactor()
    token = "PlantedBearerToken-0123456789abcdef"
    fake = r.json({"token": token})["token"]
    assert r.header("Authorization", f"Bearer {token}") == f"Bearer {fake}"
    assert r.header("x-api-key", API_KEY) == r.header("X-API-KEY", API_KEY) != API_KEY
    assert r.text(f"token {token} expired") == f"token {fake} expired"


def test_an_authentication_challenge_header_stays_readable():
    r = redactor()
    assert r.header("WWW-Authenticate", 'Bearer error="invalid_token"') == 'Bearer error="invalid_token"'
    assert r.header("Authorization", "Bearer abc.def-ghi_jkl==") != "Bearer abc.def-ghi_jkl=="


def test_credentials_are_replaced_wherever_they_appear():
    r = redactor()
    answer = r.json({"message": f"Welcome {USERNAME}, your password {PASSWORD} is weak", "note": API_KEY})
    text = flat(answer)
    assert USERNAME not in text
    assert PASSWORD not in text
    assert API_KEY not in text
    assert answer["message"].startswith("Welcome ")
    assert answer["message"].endswith(" is weak")


def test_activation_material_is_faked_but_the_smdp_host_is_kept():
    r = redactor()
    answer = r.json(
        {
            "activationCode": "LPA:1$rsp.example.net$PLANTED-CODE-0001",
            "matchingId": "PLANTED-CODE-0001",
            "qr_code_text": "LPA:1$rsp.example.net$PLANTED-CODE-0001",
            "universal_link": "https://esimsetup.apple.com/x?carddata=LPA:1$rsp.example.net$PLANTED-CODE-0001",
            "encoded": "https://example.net/?c=LPA%3A1%24rsp.example.net%24PLANTEDENC0002",
            "qrCodeUrl": "https://qr.example.net/codes/PLANTED-QR-IMAGE.png?sig=planted",
            "qr_code": "data:image/png;base64,iVBORw0KGgoPLANTEDPNG",
            "pin": "4711",
            "puk": "47114711",
            "smdpAddress": "rsp.example.net",
        }
    )
    text = flat(answer)
    for planted in ("PLANTED-CODE-0001", "PLANTEDENC0002", "PLANTED-QR-IMAGE", "PLANTEDPNG", "4711"):
        assert planted not in text
    fake_code = answer["matchingId"]
    assert answer["activationCode"] == f"LPA:1$rsp.example.net${fake_code}"  # same code, same fake
    assert answer["qr_code_text"] == answer["activationCode"]
    assert answer["universal_link"].endswith(f"carddata=LPA:1$rsp.example.net${fake_code}")
    assert answer["encoded"].startswith("https://example.net/?c=LPA%3A1%24rsp.example.net%24")
    assert answer["qrCodeUrl"].startswith("https://qr.example.net/")
    assert answer["smdpAddress"] == "rsp.example.net"
    assert answer["pin"].isdigit()
    assert len(answer["pin"]) == 4
    assert answer["puk"].isdigit()
    assert len(answer["puk"]) == 8


def test_people_are_faked_but_bundle_and_country_names_stay():
    r = redactor()
    answer = r.json(
        {
            "user": {"id": 296, "name": "Jane Planted", "email": "jane.planted@gmail.com", "balance": 12.5},
            "customerName": "John Planted",
            "phone": "+4915112345678",
            "remarks": "contact ops.planted@example.org for help",
            "bundles": [{"name": "esim_1GB_7D_TR_V2", "countries": [{"name": "Turkey", "iso": "TR"}]}],
        }
    )
    text = flat(answer)
    for planted in ("Jane Planted", "jane.planted", "John Planted", "4915112345678", "ops.planted"):
        assert planted not in text
    assert answer["user"]["email"].endswith("@example.com")
    assert len(answer["user"]["name"]) == len("Jane Planted")
    assert " " in answer["user"]["name"]
    assert answer["user"]["balance"] == 12.5
    assert answer["bundles"][0]["name"] == "esim_1GB_7D_TR_V2"
    assert answer["bundles"][0]["countries"][0]["name"] == "Turkey"


def test_iccids_become_consistent_valid_fakes_of_the_same_length():
    r = redactor()
    answer = r.json(
        {
            "simID": f"SIM ID: {ICCID}",
            "iccid": ICCID,
            "iccids": [ICCID, OTHER_ICCID],
            "message": f"eSIM {OTHER_ICCID} not found",
            "numeric": int(ICCID),
        }
    )
    fake = answer["iccid"]
    assert fake != ICCID
    assert len(fake) == len(ICCID)
    assert validate_iccid(fake) == fake  # 89-prefixed, digits, Luhn-correct
    assert answer["simID"] == f"SIM ID: {fake}"
    assert answer["iccids"][0] == fake
    assert answer["numeric"] == int(fake)
    other = answer["iccids"][1]
    assert len(other) == 20
    assert luhn_valid(other)
    assert other.startswith("89")
    assert other != fake
    assert answer["message"] == f"eSIM {other} not found"
    assert ICCID not in flat(answer)
    assert OTHER_ICCID not in flat(answer)


def test_fake_iccids_are_luhn_correct_for_every_length():
    for length in range(18, 23):
        for serial in (1, 42, 987654):
            fake = fake_iccid(length, serial)
            assert len(fake) == length
            assert fake.startswith("89")
            assert luhn_valid(fake)


def test_order_and_esim_ids_map_consistently_and_keep_their_json_type():
    r = redactor()
    listing = r.json({"getOrderdetails": [{"orderId": "4100100", "partnerCode": 200000001}]})
    request = r.json({"partnerCode": 200000001, "orderid": ["4100100"]})
    keyed = r.json({"4100100": {"apn": "internet"}})
    order = listing["getOrderdetails"][0]
    assert order["orderId"] != "4100100"
    assert len(order["orderId"]) == 7
    assert isinstance(order["partnerCode"], int)
    assert order["partnerCode"] != 200000001
    assert request == {"partnerCode": order["partnerCode"], "orderid": [order["orderId"]]}
    assert list(keyed) == [order["orderId"]]
    path = r.text(f"/my-esims/{UUID}")
    body = r.json({"data": {"sim": {"id": UUID}}})
    assert path == f"/my-esims/{body['data']['sim']['id']}"
    assert UUID_PATTERN.fullmatch(path.split("/")[-1])
    assert UUID not in path
    assert r.text("order 4100100 was renewed") == f"order {order['orderId']} was renewed"


def test_dates_quantities_and_short_numbers_are_left_alone():
    r = redactor()
    r.json({"pin": "2025", "id": 296})
    answer = r.json(
        {"purchaseDate": "2025-11-02 01:01:00", "initialQuantity": 1000000000, "dataAmount": 296, "flag": "1"}
    )
    assert answer == {
        "purchaseDate": "2025-11-02 01:01:00",
        "initialQuantity": 1000000000,
        "dataAmount": 296,
        "flag": "1",
    }


def test_known_translates_a_live_answer_without_faking_anything_new():
    r = redactor()
    fake_iccid_ = r.json({"iccid": ICCID})["iccid"]
    fake_order = r.json({"orderId": "4100100"})["orderId"]
    r.json({"user": {"id": 30}})  # a short id: the same digits are a day count below
    live = {
        "iccid": ICCID,
        "order_sim_id": "4100100",
        "activation_code": "rsp.example.net",
        "plan": "Spain 3GB",
        "duration_days": 30,
    }
    assert r.known(live) == {
        "iccid": fake_iccid_,
        "order_sim_id": fake_order,
        "activation_code": "rsp.example.net",
        "plan": "Spain 3GB",
        "duration_days": 30,
    }


def test_the_scan_names_the_setting_and_never_the_value():
    files = {"001-post-login.json": json.dumps({"note": f"x{PASSWORD}y"})}
    with pytest.raises(RecordingLeak) as caught:
        check_files(files, {"AIRHUB_PASSWORD": PASSWORD}, {})
    assert "AIRHUB_PASSWORD" in str(caught.value)
    assert "001-post-login.json" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    "variant",
    [PASSWORD, json.dumps(PASSWORD)[1:-1], "fake-Planted-Passw0rd%21", "fake-Planted-Passw0rd%21".upper()],
)
def test_the_scan_finds_credentials_in_escaped_forms(variant):
    if variant.isupper():  # case only matters for e-mail addresses
        with pytest.raises(RecordingLeak):
            check_files(
                {"f.json": "jane.PLANTED@GMAIL.COM"}, {"ESIMCARD_EMAIL": "jane.planted@gmail.com"}, {}
            )
        return
    with pytest.raises(RecordingLeak):
        check_files({"f.json": f'"body": "{variant}"'}, {"AIRHUB_PASSWORD": PASSWORD}, {})


def test_the_scan_finds_a_redacted_value_that_survived():
    r = redactor()
    r.json({"matchingId": "PLANTED-CODE-0042", "iccid": ICCID})
    with pytest.raises(RecordingLeak, match="a value redacted as activation"):
        check_files({"f.json": "LPA:1$host$PLANTED-CODE-0042"}, {}, r.originals())
    with pytest.raises(RecordingLeak, match="a value redacted as id"):
        check_files({"f.json": f"SIM {ICCID}"}, {}, r.originals())
    check_files(
        {"f.json": flat(r.json({"matchingId": "PLANTED-CODE-0042", "iccid": ICCID}))}, {}, r.originals()
    )


def test_short_credentials_only_match_whole_strings():
    check_files({"f.json": '{"flag": "esim_1GB_7D"}'}, {"AIRHUB_USERNAME": "esim"}, {})
    with pytest.raises(RecordingLeak):
        check_files({"f.json": '{"userName": "esim"}'}, {"AIRHUB_USERNAME": "esim"}, {})
