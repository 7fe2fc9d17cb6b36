"""The OpenAPI schema says what the server enforces: what it calls valid is accepted, what it calls
invalid is refused (the fuzzing test in tests/reliability checks the same at random; these are the
cases worth naming). Also: every operation has real examples for Swagger, not {"iccid": "string"}."""

from __future__ import annotations

import copy

import pytest
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft4Validator, FormatChecker
from rest_framework.test import APIClient

from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    FRONTEND_BODY,
    SEED_BUNDLE,
    SEED_ICCID,
    renewal_env_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("renewal_env")]


@pytest.fixture(scope="module")
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def body_schema(openapi: dict, path: str) -> dict:
    """The request body's schema as JSON Schema, with the components its references point to."""
    ref = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = as_json_schema(openapi["components"]["schemas"][ref.rsplit("/", 1)[1]])
    return {**schema, "components": as_json_schema(openapi["components"])}


def as_json_schema(schema):
    """OpenAPI 3.0's `nullable` as JSON Schema (draft 4, like 3.0's exclusiveMinimum)."""
    if isinstance(schema, list):
        return [as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: as_json_schema(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable"):
        result = {"anyOf": [result, {"type": "null"}]}
    return result


def schema_valid(schema: dict, body: dict) -> bool:
    return Draft4Validator(copy.deepcopy(schema), format_checker=FormatChecker()).is_valid(body)


CREATE = "/api/esim/renewal/create/"
CHECK = "/api/esim/check/"
CONFIRM = "/api/esim/renewal/confirm-payment/"
CONVERT = "/api/esim/currency/convert/"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CREATE, FRONTEND_BODY),  # the published frontend's body, as it sends it
        (CREATE, {**FRONTEND_BODY, "amount": "10.00", "renewal_days": None, "provider": None}),
        (CREATE, {"iccid": SEED_ICCID, "bundle": SEED_BUNDLE, "expected_price": "1.60", "currency": "USD"}),
        (CREATE, {"iccid": "8932 0420 0001 0245 583", "customer_email": "buyer@example.com"}),
        (CREATE, {"iccid": SEED_ICCID, "customer_email": ""}),
        (CHECK, {"iccid": SEED_ICCID}),
        (CHECK, {"iccid": "8932-0420-0001-0245-583"}),
        (CONFIRM, {"session_id": "sbx_cs_unknown"}),
        (CONFIRM, {"session_id": "cs_test_a1B2c3"}),
        (CONVERT, {"amount": 10, "from_currency": "USD", "to_currency": "EUR"}),
        (CONVERT, {"amount": 10.5, "from_currency": "EUR", "to_currency": "USD"}),
        (CONVERT, {"amount": "1000000.00", "from_currency": "USD", "to_currency": "USD"}),
    ],
)
def test_a_body_the_schema_accepts_is_not_refused_as_invalid(openapi, path, body):
    assert schema_valid(body_schema(openapi, path), body)

    response = APIClient().post(path, body, format="json")

    assert response.status_code != 400, response.json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHECK, {"iccid": 8932042000010245583}),  # a number, not text
        (CHECK, {"iccid": "8932042000010245583" + " " * 50}),  # longer than 64 characters
        (CHECK, {"iccid": "89320420000102455"}),  # 17 digits
        (CHECK, {"iccid": ""}),
        (CREATE, {**FRONTEND_BODY, "plan_name": 5}),
        (CREATE, {**FRONTEND_BODY, "renewal_days": "7"}),
        (CREATE, {**FRONTEND_BODY, "renewal_days": True}),
        (CREATE, {**FRONTEND_BODY, "renewal_days": 7.5}),
        (CREATE, {**FRONTEND_BODY, "amount": "1e2"}),
        (CREATE, {**FRONTEND_BODY, "amount": "10.001"}),
        (CREATE, {**FRONTEND_BODY, "expected_price": 0}),
        (CREATE, {**FRONTEND_BODY, "currency": ""}),
        (CREATE, {**FRONTEND_BODY, "plan_name": "x" * 255 + " "}),  # spaces count towards the limit
        (CREATE, {**FRONTEND_BODY, "customer_email": "not-an-address"}),
        (CONFIRM, {"session_id": ""}),
        (CONFIRM, {"session_id": "   "}),
        (CONFIRM, {"session_id": "cs test"}),
        (CONFIRM, {"session_id": 12}),
        (CONVERT, {"amount": "+5", "from_currency": "USD", "to_currency": "EUR"}),
        (CONVERT, {"amount": " 5", "from_currency": "USD", "to_currency": "EUR"}),
        (CONVERT, {"amount": 0.001, "from_currency": "USD", "to_currency": "EUR"}),
        (CONVERT, {"amount": True, "from_currency": "USD", "to_currency": "EUR"}),
        (CONVERT, {"amount": 10, "from_currency": "GBP", "to_currency": "EUR"}),
    ],
)
def test_a_body_the_schema_refuses_is_refused(openapi, path, body):
    assert not schema_valid(body_schema(openapi, path), body)

    response = APIClient().post(path, body, format="json")

    assert response.status_code == 400, response.json()


def test_the_confirm_session_id_must_not_be_blank(openapi):
    session_id = body_schema(openapi, CONFIRM)["properties"]["session_id"]

    assert session_id["pattern"] == "^[A-Za-z0-9_-]{1,255}$"
    assert body_schema(openapi, CONFIRM)["required"] == ["session_id"]


def test_the_webhook_requires_its_signature_header(openapi):
    operation = openapi["paths"]["/api/esim/stripe/webhook/"]["post"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]

    assert (header["name"], header["required"], header["schema"]["minLength"]) == (
        "Stripe-Signature",
        True,
        1,
    )
    assert set(operation["responses"]) == {"200", "403", "413"}


def test_currencies_are_the_configured_sale_currencies(openapi):
    parameters = openapi["paths"]["/api/esim/currency/exchange-rate/"]["get"]["parameters"]

    assert {p["name"]: p["schema"]["enum"] for p in parameters} == {
        "from": ["USD", "EUR"],
        "to": ["USD", "EUR"],
    }
    [currency] = body_schema(openapi, CREATE)["properties"]["currency"]["allOf"]
    assert openapi["components"]["schemas"][currency["$ref"].rsplit("/", 1)[1]]["enum"] == ["USD", "EUR"]


def test_every_operation_has_a_real_example(openapi):
    """Swagger UI shows these: the demo ICCID, the frontend's body, a real session id."""
    missing = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if not _has_examples(openapi, operation):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def _has_examples(openapi: dict, operation: dict) -> bool:
    parameters = operation.get("parameters", [])
    if any("example" not in p["schema"] and "examples" not in p for p in parameters):
        return False
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return True
    if "examples" in content or "example" in content.get("schema", {}):
        return True
    ref = content["schema"].get("$ref", "")
    component = openapi["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return all("example" in field for field in component.get("properties", {}).values())


def test_the_demo_iccid_example_is_the_readme_seed(openapi):
    check = openapi["paths"][CHECK]["post"]["requestBody"]["content"]["application/json"]

    assert check["examples"]["TheREADME'sTurkeyESIM(expired)"]["value"] == {"iccid": SEED_ICCID}
    assert body_schema(openapi, CHECK)["properties"]["iccid"]["example"] == SEED_ICCID
