"""API fuzzing: schemathesis generates requests from `/api/schema/` and checks the answers.

Two runs:
- `test_every_operation_answers_as_documented`: in-process (the WSGI app, the test database),
  every operation with a bounded, derandomized number of examples. Each response must not be a 5xx,
  use a status code the schema documents, carry the documented content type and match the body schema.
- `test_schemathesis_run_with_every_check_finds_nothing`: what an outside reviewer runs, over real
  HTTP against gunicorn: `schemathesis run --checks all` with every phase (examples, coverage,
  fuzzing, stateful), bounded by examples per operation and a fixed seed. `--checks all` includes
  positive data acceptance (ST202: a request valid by the schema must not be refused with 400) and
  negative data rejection (a request the schema forbids must be refused), so the schema has to say
  exactly what the server enforces (docs/reliability.md §4). The ICCID's Luhn digit is the one rule
  JSON Schema cannot state; `schemathesis_hooks.py` generates ICCIDs for its `format: iccid`.

Providers are the in-process simulators, payments the sandbox gateway (the test settings), so
generated ICCIDs and sessions reach the real services.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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
from tests.reliability import servers

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


# --- the outside reviewer's run ------------------------------------------------------------------------

CLI_MAX_EXAMPLES = 30  # per operation and phase; about a minute on a CI runner
CLI_SEED = 1
SCHEMATHESIS = str(Path(servers.PYTHON).with_name("schemathesis"))
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


@pytest.mark.slow
def test_schemathesis_run_with_every_check_finds_nothing(tmp_path):
    env = {
        **servers.base_environment(),
        # The test settings: sandbox providers and payments, no throttling, DEBUG off.
        "DJANGO_SETTINGS_MODULE": "esim_status_checker.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fuzz.sqlite3'}",
    }
    migrate = subprocess.run(
        [servers.PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = servers.free_port()
    app = servers.start(
        "gunicorn",
        [
            servers.GUNICORN, "esim_status_checker.wsgi:application", "-w", "1", "--threads", "8",
            "-b", f"127.0.0.1:{port}", *servers.gunicorn_options(),
        ],
        env=env,
        log_dir=tmp_path,
    )  # fmt: skip
    try:
        servers.drain_stdout(app, tmp_path / "gunicorn.stdout.log")
        servers.wait_until_ready(f"http://127.0.0.1:{port}/api/esim/health/", app)
        run = subprocess.run(
            [
                SCHEMATHESIS, "run", f"http://127.0.0.1:{port}/api/schema/",
                "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
                "--max-examples", str(CLI_MAX_EXAMPLES), "--seed", str(CLI_SEED), "--workers", "2",
                "--generation-database", "none", "--no-color",
            ],
            cwd=tmp_path,  # keeps schemathesis' own cache out of the repository
            env={**servers.base_environment(), "SCHEMATHESIS_HOOKS": str(HOOKS)},
            capture_output=True,
            text=True,
            timeout=900,
        )  # fmt: skip
    finally:
        servers.stop(app)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Selected: 15/15" in run.stdout  # every operation in the schema was tried
    assert re.search(r"(\d+) generated, \1 passed", run.stdout), run.stdout[-3000:]
