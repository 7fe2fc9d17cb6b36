import json
import logging

import pytest
from rest_framework.test import APIClient

from esim_status_checker.logging import JsonFormatter, RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_request_id_is_generated_and_echoed():
    response = APIClient().get("/api/esim/health/")
    assert len(response["X-Request-ID"]) == 32


def test_incoming_request_id_is_honoured():
    response = APIClient().get("/api/esim/health/", HTTP_X_REQUEST_ID="frontend-abc.123")
    assert response["X-Request-ID"] == "frontend-abc.123"


def test_unsafe_incoming_request_id_is_replaced():
    response = APIClient().get("/api/esim/health/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


def test_request_id_reaches_log_records():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    token = request_id_var.set("rid-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    assert record.request_id == "rid-42"


def test_json_formatter_writes_one_object_with_context():
    record = logging.LogRecord(
        "pulse.x", logging.WARNING, __file__, 1, "checked %s", ("893204*****5583",), None
    )
    record.request_id = "rid-1"
    record.provider = "airhub"
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["message"] == "checked 893204*****5583"
    assert payload["request_id"] == "rid-1"
    assert payload["provider"] == "airhub"
    assert payload["level"] == "WARNING"
