"""API fuzzing: schemathesis generates requests from `/api/schema/` and calls the WSGI app in-process.

Every operation gets a bounded, derandomized number of examples (stable in CI). Each response must:
not be a 5xx, use a status code the schema documents, carry the documented content type, and match
the documented body schema. Providers are the in-process simulators, payments the sandbox gateway
(the test settings), so generated ICCIDs and sessions reach the real services.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import resolve
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from esim_status_checker.wsgi import application
from providers.sandbox import reset_default_world

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# Loaded at collection (pytest-django has configured Django by then); no database is needed for it.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def _fresh_simulators():
    reset_default_world()


@pytest.fixture(autouse=True)
def _keep_the_test_database_connection():
    """Schemathesis calls the real WSGI handler, whose request signals close "old" connections: that
    would close the test's own connection (inside its transaction) on a file or PostgreSQL database.
    Django's test client disconnects the same handler for the same reason."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case):
    case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize(
    ("path", "method"), [(p, m) for p, ops in schema.raw_schema["paths"].items() for m in ops]
)
def test_every_rate_limited_operation_documents_its_429(path, method):
    view = resolve(path.replace("{order_id}", "REN-X")).func.view_class
    responses = schema.raw_schema["paths"][path][method]["responses"]
    if getattr(view, "throttle_scope", None):
        assert "429" in responses, f"{method.upper()} {path} is rate limited but does not document 429"
    else:
        assert "429" not in responses
