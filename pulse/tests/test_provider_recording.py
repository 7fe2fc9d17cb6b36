"""`provider_smoke --record`: the sandbox records itself over real HTTP, secrets planted in its answers
never reach the files, and the recording replays to the answers a live check gives."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import override_settings

from providers.base import TRAVELROAM, TopUpRequest
from providers.iccid import validate_iccid
from providers.recording import session as recording_session
from providers.recording.fixture import MANIFEST, recording_folders
from providers.recording.redact import Redactor
from providers.sandbox import DEMO_ICCIDS, SANDBOX_CREDENTIALS
from providers.sandbox.wsgi import Response
from providers.tests.recording_replay import lookup_answer, replay
from pulse.services.providers import provider_client
from pulse.services.recordings import provider_recording_run
from pulse.tests.http_sandbox_helpers import http_sandbox

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
ICCIDS = list(DEMO_ICCIDS.values())
STRIPE_SECRET = "fake-planted-stripe-secret-0001"
PLANTED = {
    "customerEmail": "planted.customer@gmail.com",
    "customerName": "Planted Customer Name",
    "phone": "+4915112345678",
    "pin": "8642",
    "puk": "97531864",
    "apiKey": "fake-planted-response-api-key",
    "lpa": "LPA:1$rsp.example.net$PLANTED-LPA-CODE-1",
    "qrCodeUrl": "https://qr.example.net/codes/PLANTED-QR-IMAGE-2.png",
    "user": {"name": "Planted Reseller Owner", "email": "owner.planted@example.org"},
}
PLANTED_VALUES = [
    "planted.customer@gmail.com",
    "Planted Customer Name",
    "4915112345678",
    "97531864",
    "fake-planted-response-api-key",
    "PLANTED-LPA-CODE-1",
    "PLANTED-QR-IMAGE-2",
    "Planted Reseller Owner",
    "owner.planted",
]
ECHOED_CREDENTIALS = [
    SANDBOX_CREDENTIALS["airhub"]["password"],
    SANDBOX_CREDENTIALS["esimcard"]["email"],
    SANDBOX_CREDENTIALS["travelroam"]["api_key"],
    STRIPE_SECRET,
]


class PlantingWorld:
    """The sandbox, but every JSON object it answers carries personal data, activation material and
    an echo of the environment's credentials: the worst a careless provider could send."""

    def __init__(self, world) -> None:
        self.world = world
        self.tokens: set[str] = set()

    def handle(self, environ):
        response = self.world.handle(environ)
        try:
            body = json.loads(response.body)
        except ValueError:
            return response
        if isinstance(body, dict):
            self.tokens.update(str(body[key]) for key in ("token", "access_token") if body.get(key))
        return Response(response.status, json.dumps(self._plant(body)).encode(), response.headers)

    def _plant(self, value):
        if isinstance(value, dict):
            planted = {key: self._plant(item) for key, item in value.items()}
            return {**planted, **PLANTED, "note": "echo " + " ".join(ECHOED_CREDENTIALS)}
        if isinstance(value, list):
            return [self._plant(item) for item in value]
        return value


def record(root: Path, **options) -> str:
    out = io.StringIO()
    call_command(
        "provider_smoke", "--record", str(root), *[f"--iccid={i}" for i in ICCIDS], stdout=out, **options
    )
    return out.getvalue()


def recorded_text(root: Path) -> str:
    return "\n".join(
        path.read_text() for folder in recording_folders(root) for path in sorted(folder.iterdir())
    )


def test_secrets_planted_in_sandbox_answers_never_reach_the_recording(tmp_path):
    planting: list[PlantingWorld] = []
    with (
        http_sandbox(wrap=lambda world: planting.append(PlantingWorld(world)) or planting[0]) as (world, _),
        override_settings(STRIPE_SECRET_KEY=STRIPE_SECRET),
    ):
        output = record(tmp_path)
    assert [folder.parent.name for folder in recording_folders(tmp_path)] == [
        "airhub",
        "esimcard",
        "travelroam",
    ]
    text = recorded_text(tmp_path)
    tokens = planting[0].tokens
    assert len(tokens) == 2  # one AirHub and one eSIMCard login happened, and was recorded
    for value in [
        *PLANTED_VALUES,
        *ECHOED_CREDENTIALS,
        *tokens,
        *ICCIDS,
        SANDBOX_CREDENTIALS["airhub"]["username"],
    ]:
        assert value not in text, value
    for order_id in world.data.airhub_orders:
        assert f'"{order_id}"' not in text
    assert "LPA:1$rsp.example.net$" in text  # the SM-DP+ host stays readable, the code does not
    assert "@example.com" in text  # addresses became fake addresses
    for value in [*ICCIDS, *tokens, *ECHOED_CREDENTIALS]:
        assert value not in output


def test_a_credential_that_escapes_redaction_stops_the_whole_recording(tmp_path, monkeypatch):
    # A redactor that forgot the environment's credentials: only the final scan stands in the way.
    monkeypatch.setattr(recording_session, "Redactor", lambda credentials: Redactor({}))
    with (
        http_sandbox(wrap=PlantingWorld),
        override_settings(STRIPE_SECRET_KEY=STRIPE_SECRET),
        pytest.raises(CommandError) as caught,
    ):
        record(tmp_path)
    message = str(caught.value)
    assert "still contains the value of" in message
    named = ("AIRHUB_PASSWORD", "ESIMCARD_EMAIL", "TRAVELROAM_API_KEY", "STRIPE_SECRET_KEY")
    assert any(f"the value of {name}." in message for name in named)
    assert all(value not in message for value in ECHOED_CREDENTIALS)
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_the_sandbox_recording_replays_to_the_answers_of_a_live_check(tmp_path):
    with time_machine.travel(NOW, tick=False), http_sandbox() as (world, _):
        travelroam = provider_client(TRAVELROAM)
        bundle = next(iter(world.data.tr_bundles))
        order = travelroam.top_up(TopUpRequest(DEMO_ICCIDS["travelroam_queued_spain"], "", bundle, "REN-1"))
        live = {iccid: lookup_answer(iccid) for iccid in ICCIDS}
        live_assignments = {order.reference: travelroam.assignments(order.reference)}
        report = provider_recording_run(root=tmp_path, iccids=ICCIDS, order_references=[order.reference])
    assert all(steps is not None for steps in report.steps.values())
    replayed = replay(report.folders)
    assert replayed["unanswered"] == []
    assert replayed["assignments"] == report.redactor.known(live_assignments)
    (rows,) = replayed["assignments"].values()
    assert [row["iccid"] for row in rows] == [report.redactor.known(DEMO_ICCIDS["travelroam_queued_spain"])]
    expected = report.redactor.known(live)
    assert list(replayed["lookups"]) == list(expected)  # the same ICCIDs, faked the same way
    assert replayed["lookups"] == expected
    found = [answer for answer in replayed["lookups"].values() if "error" not in answer]
    assert {answer["api_provider"] for answer in found} == {"AIRHUB", "ESIMCARD", "TRAVELROAM"}
    for fake in replayed["lookups"]:
        assert validate_iccid(fake) == fake


def test_the_in_process_sandbox_records_into_dated_sandbox_folders(tmp_path):
    with override_settings(ESIM_SANDBOX=True):
        output = record(tmp_path, provider=["travelroam"])
    (folder,) = recording_folders(tmp_path)
    assert folder.parent.name == "travelroam"
    assert folder.name.endswith("-sandbox")
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["source"] == "sandbox"
    assert [step["outcome"] for step in manifest["steps"]].count(
        "found"
    ) == 6  # the TravelRoam demo eSIMs (two of them for usage alerts)
    assert "written:" in output
    assert "airhub" not in output  # only the provider asked for


def test_an_invalid_iccid_is_refused_before_any_call(tmp_path):
    with pytest.raises(CommandError, match="--iccid"):
        call_command("provider_smoke", "--record", str(tmp_path), "--iccid", "12345")
    assert list(tmp_path.iterdir()) == []


@override_settings(
    ESIM_SANDBOX=False,
    AIRHUB_USERNAME="",
    AIRHUB_PASSWORD="",
    ESIMCARD_EMAIL="",
    ESIMCARD_PASSWORD="",
    TRAVELROAM_API_KEY="",
    TRAVELROAM_CLIENT_SECRET="",
)
def test_unconfigured_providers_are_reported_and_nothing_is_written(tmp_path):
    output = record(tmp_path)
    assert output.count("not configured") == 3
    assert list(tmp_path.iterdir()) == []
