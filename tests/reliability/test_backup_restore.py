"""The backup and restore recipe of docs/operations.md, run on PostgreSQL: an order with its charge,
webhook event, audit trail and a staff note is dumped with `pg_dump --format=custom`, restored with
`pg_restore` into a new database, and reads back through the ORM unchanged: in a separate
`manage.py shell` on the restored database, as docs/operations.md tells an operator to check.

The restored database's name is the test database's plus this process id, so parallel runs of other
checkouts (test_h1, test_h2, ...) never meet; it is dropped afterwards, also when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from rest_framework.test import APIClient

from pulse.models import PaymentEvent, PaymentTransaction, RenewalOrder
from pulse.services import staff_actions
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    confirm,
    create_order,
    post_webhook,
    renewal_env_fixture,
    sandbox_pay,
    sign,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # seconds for one pg_dump / pg_restore / manage.py run


def _require_postgres_tools() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("backup/restore is PostgreSQL's pg_dump/pg_restore; this run uses SQLite")
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        reason = f"the PostgreSQL client tools are not installed ({', '.join(missing)})"
        if os.environ.get("MULTI_WORKER_REQUIRED") == "1":  # .ci/run's PostgreSQL pass: the recipe must run
            pytest.fail(reason)
        pytest.skip(reason)


def _url(name: str) -> str:
    db = connection.settings_dict
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgresql://{user}@{host}:{port}/{name}"


def _tool_env() -> dict[str, str]:
    env = {**os.environ}
    if connection.settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = connection.settings_dict["PASSWORD"]
    return env


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False, **kwargs)
    assert result.returncode == 0, f"{' '.join(argv[:3])} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database next to the test database; dropped afterwards."""
    _require_postgres_tools()
    name = f"{connection.settings_dict['NAME']}_restore_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _completed_order_with_history() -> RenewalOrder:
    """Create → sandbox Pay → signed webhook → confirm, then a staff note: every table to back up."""
    api = APIClient()
    order_id, session_id = create_order(api, customer_email="buyer@example.com")
    body = sandbox_pay(session_id)
    assert post_webhook(api, body, sign(body)).status_code == 200
    assert confirm(api, session_id).json()["order"]["status"] == "COMPLETED"
    staff = get_user_model().objects.create_user("staff-backup", "staff@example.com", is_staff=True)
    order = RenewalOrder.objects.get(order_id=order_id)
    staff_actions.add_note(order, user=staff, note="checked before the backup")
    return order


def order_rows(order_id: str) -> str:
    """The order and everything hanging off it, as JSON (the same text from either database)."""
    order = RenewalOrder.objects.get(order_id=order_id)
    rows = {
        "order": list(RenewalOrder.objects.filter(pk=order.pk).values()),
        "transactions": list(PaymentTransaction.objects.filter(order=order).values()),
        "events": list(PaymentEvent.objects.filter(order=order).values()),
        "audit": list(order.audit.values("actor__username", "at", "source", "action", "to_status", "note")),
    }
    return json.dumps(rows, cls=DjangoJSONEncoder, sort_keys=True)


def _read_back(database: str, order_id: str) -> dict:
    """`order_rows` run by `manage.py shell` on the restored database, in a process of its own."""
    code = f"from tests.reliability.test_backup_restore import order_rows; print(order_rows({order_id!r}))"
    command = [sys.executable, "manage.py", "shell", "-c", code]
    result = _run(command, cwd=ROOT, env={**_tool_env(), "DATABASE_URL": _url(database)})
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.usefixtures("renewal_env")
def test_an_order_survives_pg_dump_and_pg_restore_into_a_new_database(fresh_database, tmp_path):
    order = _completed_order_with_history()
    before = json.loads(order_rows(order.order_id))
    assert before["transactions"]
    assert before["events"]
    assert len(before["audit"]) >= 3
    assert before["audit"][-1]["actor__username"] == "staff-backup"

    dump = tmp_path / "esim.dump"
    source = _url(connection.settings_dict["NAME"])
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), source], env=_tool_env())
    _run(
        ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _url(fresh_database), str(dump)],
        env=_tool_env(),
    )
    check = [sys.executable, "manage.py", "migrate", "--check", "--noinput"]
    _run(check, cwd=ROOT, env={**_tool_env(), "DATABASE_URL": _url(fresh_database)})

    after = _read_back(fresh_database, order.order_id)
    assert after == before
    assert after["order"][0]["status"] == "COMPLETED"
    assert after["order"][0]["customer_email"] == "buyer@example.com"
