"""The app's sandbox wiring: one simulated world per deployment through ESIM_SANDBOX_STATE, an in-memory
world per test process by default, and `manage.py sandbox_reset`.

The end-to-end proof with real OS processes (a server pays a renewal, `check_esim` in another process sees
the new bundle) is tests/reliability/test_shared_sandbox_world.py.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.management import CommandError, call_command

from esim_status_checker.tests.fresh_process import shell_output
from providers.base import TRAVELROAM, TopUpRequest
from providers.sandbox import (
    SANDBOX_CREDENTIALS,
    build_world,
    get_default_world,
    mount_sandbox,
    sandbox_base_urls,
)
from pulse.services.providers import provider_client, sandbox_world
from pulse.services.status import esim_status_check

ROOT = Path(__file__).resolve().parents[2]
TURKEY = "8932042000010245583"
TURKEY_BUNDLE = "esim_1GB_7D_TR_V2"


def top_up_turkey(reference: str) -> str:
    """A TravelRoam top-up through the app's own provider client, as fulfilment places it."""
    client = provider_client(TRAVELROAM)
    request = TopUpRequest(
        iccid=TURKEY, esim_reference=TURKEY, bundle_code=TURKEY_BUNDLE, order_reference=reference
    )
    return client.top_up(request).reference


@pytest.fixture
def state_file(tmp_path: Path, settings) -> Path:
    """Opt in to the shared world, on a file of this test's own."""
    path = tmp_path / "sandbox-world.sqlite3"
    settings.ESIM_SANDBOX_STATE = str(path)  # rebuilds the provider clients (setting_changed)
    return path


def other_process_world(path: Path):
    """What another process of the deployment opens: the same file, keyed with the same SECRET_KEY."""
    return build_world(state_path=path, state_secret=settings.SECRET_KEY)


def test_tests_get_a_fast_in_memory_world_of_their_own():
    assert settings.ESIM_SANDBOX_STATE == ""
    world = sandbox_world()
    assert world is get_default_world()
    assert world.state_path is None


# Two identical tests: whichever runs second fails if the first one's top-up leaked into its world.
@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_starts_with_the_world_as_built(run: str):
    assert sandbox_world().topups() == []
    top_up_turkey(f"isolation-{run}")
    assert len(sandbox_world().topups()) == 1


def test_with_a_state_file_a_top_up_reaches_every_process(state_file: Path):
    reference = top_up_turkey("shared-1")

    assert sandbox_world().state_path == state_file
    elsewhere = other_process_world(state_file)
    assert [t["reference"] for t in elsewhere.topups()] == [reference]
    assert len(elsewhere.data.tr_esims[TURKEY].assignments) == 2


@pytest.mark.django_db
def test_with_a_state_file_a_check_sees_a_top_up_placed_by_another_process(state_file: Path):
    before = esim_status_check(iccid=TURKEY, use_cache=False).answer()["bundles"]
    assert [bundle["status"] for bundle in before] == ["Expired"]
    session = requests.Session()
    mount_sandbox(session, other_process_world(state_file))
    credentials = SANDBOX_CREDENTIALS["travelroam"]
    placed = session.post(
        f"{sandbox_base_urls()['travelroam']}/processorders",
        json={"bundleName": TURKEY_BUNDLE, "iccid": TURKEY},
        headers={"x-api-key": credentials["api_key"], "clientSecret": credentials["client_secret"]},
        timeout=5,
    )
    assert placed.status_code == 200

    after = esim_status_check(iccid=TURKEY, use_cache=False).answer()["bundles"]
    assert len(after) == 2


def test_sandbox_reset_starts_the_shared_world_afresh_for_every_process(state_file: Path):
    top_up_turkey("before-reset")
    out = StringIO()

    call_command("sandbox_reset", stdout=out)

    assert str(state_file) in out.getvalue()
    assert other_process_world(state_file).topups() == []
    assert len(other_process_world(state_file).data.tr_esims[TURKEY].assignments) == 1


def test_sandbox_reset_in_memory_says_it_reached_only_its_own_process():
    top_up_turkey("memory")
    out = StringIO()
    call_command("sandbox_reset", stdout=out)
    assert "only reached this command's" in out.getvalue()
    assert sandbox_world().topups() == []


def test_sandbox_reset_refuses_when_the_providers_are_real(settings):
    settings.ESIM_SANDBOX = False
    with pytest.raises(CommandError, match="ESIM_SANDBOX is off"):
        call_command("sandbox_reset")


def _settings_value(**env: str) -> str:
    code = "from django.conf import settings; print(repr(settings.ESIM_SANDBOX_STATE))"
    return shell_output(code, **env).strip().strip("'")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", str(ROOT / "var" / "sandbox-world.sqlite3")),  # blank, as .env.example ships it
        ("tmp/x.sqlite3", str(ROOT / "tmp" / "x.sqlite3")),
        ("/srv/esim/world.sqlite3", "/srv/esim/world.sqlite3"),
        ("memory", ""),
    ],
)
def test_esim_sandbox_state_setting(value: str, expected: str):
    assert _settings_value(ESIM_SANDBOX_STATE=value) == expected
