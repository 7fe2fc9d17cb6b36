"""Replay recordings through the real clients, parsers and status lookup (docs/providers.md, "Recordings").

A `responses` transport answers each request the clients make with the recorded answer to the same
request (method, path, query and, except for logins, body), whatever order the clients ask in. The
clock is the recording's, so date windows, "expired" and `last_updated` come out as they did then.
What the code makes of it (the unified answer per ICCID, each provider's parsed catalogue and the
eSIMs of any TravelRoam order read) is compared with `expected.json` beside the recording.

Regenerate the expected answers deliberately (after a parser change you mean to make) with:

    UPDATE_RECORDINGS=1 .venv/bin/python -m pytest providers/tests/test_recordings.py
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import responses
import time_machine
from django.db import transaction
from django.test import override_settings

from providers.base import PROVIDER_NAMES, TRAVELROAM
from providers.errors import ProviderError
from providers.recording.allowlist import allowed_endpoint
from providers.recording.capture import relative_path
from providers.recording.fixture import EXPECTED, Exchange, dumps, load_recording, request_key
from pulse.exceptions import ApplicationError
from pulse.services.providers import provider_client
from pulse.services.status import esim_status_check

UPDATE_ENV = "UPDATE_RECORDINGS"
REPLAY_HOST = "https://{provider}.replay.invalid"
_CREDENTIALS = {
    "airhub": ("AIRHUB_USERNAME", "AIRHUB_PASSWORD"),
    "esimcard": ("ESIMCARD_EMAIL", "ESIMCARD_PASSWORD"),
    "travelroam": ("TRAVELROAM_API_KEY", "TRAVELROAM_CLIENT_SECRET"),
}
_accounts = itertools.count(1)


class ReplayTransport:
    """Recorded answers by request; the last answer recorded for a request wins (a 401 then a 200)."""

    def __init__(self, folders: list[Path]) -> None:
        self.manifests: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[tuple, Exchange]] = {}
        self.unanswered: list[str] = []
        for folder in folders:
            manifest, exchanges = load_recording(folder)
            provider = manifest["provider"]
            self.manifests[provider] = manifest
            answers = self.answers.setdefault(provider, {})
            for exchange in exchanges:
                answers[exchange.key()] = exchange

    def base_url(self, provider: str) -> str:
        return REPLAY_HOST.format(provider=provider) + self.manifests[provider]["base_path"]

    @contextmanager
    def active(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for provider in self.manifests:
                pattern = re.compile(re.escape(REPLAY_HOST.format(provider=provider)) + r"(/.*)?$")
                for method in ("GET", "POST"):
                    mock.add_callback(method, pattern, callback=lambda r, p=provider: self._answer(p, r))
            yield

    def _answer(self, provider: str, request: requests.PreparedRequest) -> tuple[int, dict, str]:
        method = (request.method or "GET").upper()
        path = relative_path(self.base_url(provider), request.url or "") or ""
        query = parse_qsl(urlsplit(request.url or "").query, keep_blank_values=True)
        body = json.loads(request.body) if request.body else None
        endpoint = allowed_endpoint(provider, method, path)
        match_body = endpoint.match_body if endpoint is not None else True
        exchange = self.answers[provider].get(request_key(method, path, query, body, match_body))
        if exchange is None:
            shown = (
                f"{provider}: {method} {path}" + (f" {query}" if query else "") + (f" {body}" if body else "")
            )
            self.unanswered.append(shown)
            raise requests.ConnectionError(f"no recorded answer for {shown}")
        text = exchange.body_text if exchange.body_text is not None else json.dumps(exchange.body)
        return exchange.status, dict(exchange.response_headers), text or ""


def _recorded_at(transport: ReplayTransport) -> datetime:
    stamps = [manifest["recorded_at"].replace("Z", "+00:00") for manifest in transport.manifests.values()]
    return max(datetime.fromisoformat(stamp) for stamp in stamps)


def _provider_settings(transport: ReplayTransport) -> dict[str, Any]:
    """Every provider pointed at the replay host with fresh fake credentials (fresh token and index
    caches: the keys include the account), the others unconfigured."""
    account = next(_accounts)
    overrides: dict[str, Any] = {}
    for provider in PROVIDER_NAMES:
        first, second = _CREDENTIALS[provider]
        recorded = provider in transport.manifests
        overrides[f"{provider.upper()}_BASE_URL"] = transport.base_url(provider) if recorded else ""
        overrides[first] = f"replay-{account}@example.com" if recorded else ""
        overrides[second] = f"fake-replay-secret-{account}" if recorded else ""
    return overrides


def lookup_answer(iccid: str) -> dict[str, Any]:
    """The status check's answer (or its error), with nothing it remembered kept afterwards."""
    with transaction.atomic():  # the check remembers where eSIMs live: undo it
        try:
            return esim_status_check(iccid=iccid, use_cache=False).answer()
        except ApplicationError as exc:
            return {"error": exc.code, "message": exc.message, "details": exc.details}
        finally:
            transaction.set_rollback(True)


def _catalogue(provider: str) -> Any:
    client = provider_client(provider)
    try:
        bundles = client.catalogue() if client is not None else []
    except ProviderError as exc:
        return {"error": exc.code, "message": exc.message}
    return json.loads(json.dumps([dataclasses.asdict(bundle) for bundle in bundles], default=str))


def _assignments(reference: str) -> Any:
    client = provider_client(TRAVELROAM)
    try:
        return client.assignments(reference) if client is not None else []
    except ProviderError as exc:
        return {"error": exc.code, "message": exc.message}


def _order_references(transport: ReplayTransport) -> list[str]:
    steps = transport.manifests.get(TRAVELROAM, {}).get("steps", [])
    return [step["order_reference"] for step in steps if step.get("call") == "order_assignments"]


def replay(folders: list[Path]) -> dict[str, Any]:
    """What the code makes of these recordings (folders of one recording run, one per provider)."""
    transport = ReplayTransport(folders)
    iccids = list(dict.fromkeys(i for manifest in transport.manifests.values() for i in manifest["iccids"]))
    quiet = {
        "ESIM_SANDBOX": False,
        "STATUS_CACHE_SECONDS": 0,
        "STATUS_NOT_FOUND_CACHE_SECONDS": 0,
        "PROVIDER_BREAKER_THRESHOLD": 10**6,  # a recorded failure must not silence the next lookup
    }
    lookups: dict[str, Any] = {}
    with time_machine.travel(_recorded_at(transport), tick=False), transport.active():
        for iccid in iccids:
            with override_settings(**quiet, **_provider_settings(transport)):
                lookups[iccid] = lookup_answer(iccid)
        with override_settings(**quiet, **_provider_settings(transport)):
            catalogues = {provider: _catalogue(provider) for provider in sorted(transport.manifests)}
            assignments = {reference: _assignments(reference) for reference in _order_references(transport)}
    return {
        "lookups": lookups,
        "catalogue": catalogues,
        "assignments": assignments,
        "unanswered": transport.unanswered,
    }


def compare_with_expected(folder: Path, actual: dict[str, Any]) -> None:
    """Fail with a readable diff when the answer changed; with UPDATE_RECORDINGS=1 write it instead."""
    path = folder / EXPECTED
    actual_text = dumps(actual)
    if os.environ.get(UPDATE_ENV) == "1":
        path.write_text(actual_text, encoding="utf-8")
        return
    if not path.exists():
        raise AssertionError(f"{path} is missing; create it with {UPDATE_ENV}=1 (see docs/providers.md)")
    expected_text = path.read_text(encoding="utf-8")
    if expected_text != actual_text:
        diff = "".join(
            difflib.unified_diff(
                expected_text.splitlines(keepends=True),
                actual_text.splitlines(keepends=True),
                fromfile=f"{path} (expected)",
                tofile="replayed now",
            )
        )
        raise AssertionError(
            f"replaying {folder} gives a different answer:\n{diff}\n"
            f"If the change is intended, regenerate with {UPDATE_ENV}=1 (docs/providers.md)."
        )
