"""One recording run: ask each provider its read-only questions, redact everything, scan, write.

    session = RecordingSession(credentials, source="live", recorded_at=now)
    client = build_client(..., prepare_session=partial(session.attach, "airhub"))
    session.run("airhub", client, iccids)
    paths = session.write(root)            # redaction, then the leak scan, then the files

What each provider is asked (every call goes through the client's own code, so the recording is what
the clients really send): the smoke probe, a lookup of every ICCID, the whole catalogue, then the
read-only extras that settle open questions (AirHub's renewal history, eSIMCard's top-up availability,
the eSIMs of TravelRoam orders named by the caller).
Redaction runs twice over the whole run: the first pass learns every id and secret, the second writes,
so an order id quoted in an earlier message is replaced as surely as the one under `orderId`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from providers.base import AIRHUB, ESIMCARD, TRAVELROAM, EsimRecord, ProviderClient, TopUpRequest
from providers.errors import ProviderError
from providers.iccid import mask_iccid, normalize_iccid
from providers.recording.capture import Recorder, RecordingRefused
from providers.recording.fixture import Exchange, ProviderRecording, folder_for
from providers.recording.redact import Redactor
from providers.recording.scan import check_files

logger = logging.getLogger(__name__)

RENEWAL_HISTORY_DAYS = 365


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except ProviderError as exc:
        return f"error:{exc.code}", exc
    except RecordingRefused as exc:
        return "refused", exc
    except Exception as exc:  # a client crash must not lose what was recorded so far
        logger.exception("recording call crashed")
        return f"crash:{type(exc).__name__}", exc


def _step(call: str, outcome: str, result: Any, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"call": call, "outcome": outcome, **extra}
    if isinstance(result, ProviderError):
        step["message"] = result.message
        if result.status_code is not None:
            step["status_code"] = result.status_code
    return step


class RecordingSession:
    def __init__(self, credentials: Mapping[str, str], *, source: str, recorded_at: datetime) -> None:
        self.credentials = {label: value for label, value in credentials.items() if value}
        self.source = source
        self.recorded_at = recorded_at
        self.recorder = Recorder()
        self._runs: dict[str, tuple[str, list[str], list[dict[str, Any]]]] = {}
        self._base_paths: dict[str, str] = {}
        self.redactor: Redactor | None = None  # set by `recordings()`; its mapping stays in memory

    # --- calling the providers ----------------------------------------------------------------------

    def attach(self, provider: str, session: requests.Session, base_url: str) -> None:
        """The `prepare_session` hook for a client's session: allow-list and capture."""
        self._base_paths[provider] = urlsplit(base_url).path.rstrip("/")
        self.recorder.attach(provider, session, base_url)

    def run(
        self,
        provider: str,
        client: ProviderClient,
        iccids: list[str],
        *,
        order_references: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Every read-only question for one provider; returns the steps (raw, not yet redacted).

        `order_references` are TravelRoam orders whose eSIMs to read (`getesimassignments`)."""
        wanted = [normalize_iccid(iccid) for iccid in iccids]
        outcome, result = _outcome(client.probe)
        steps = [_step("probe", outcome, result)]
        found: dict[str, EsimRecord] = {}
        for iccid in wanted:
            outcome, result = _outcome(lambda iccid=iccid: client.lookup(iccid))
            if outcome == "ok":
                found[iccid] = result
                outcome = "found"
            elif outcome == "error:not_found":
                outcome = "not_found"
            steps.append(_step("lookup", outcome, result, iccid=iccid))
            logger.info("recorded %s lookup of %s: %s", provider, mask_iccid(iccid), outcome)
        outcome, result = _outcome(client.catalogue)
        extra = {"bundles": len(result)} if outcome == "ok" else {}
        steps.append(_step("catalogue", outcome, result, **extra))
        # Settles the wallet answers (AirHub GetWallet and TravelRoam's organisation are unverified).
        outcome, result = _outcome(client.wallet)
        steps.append(_step("wallet", outcome, result))
        steps += self._extras(provider, client, found)
        if provider == TRAVELROAM:
            for reference in order_references:
                outcome, result = _outcome(lambda r=reference: client.assignments(r))
                extra = {"esims": len(result)} if outcome == "ok" else {}
                steps.append(_step("order_assignments", outcome, result, order_reference=reference, **extra))
        self._runs[provider] = (provider, wanted, steps)
        return steps

    def _extras(self, provider: str, client: Any, found: dict[str, EsimRecord]) -> list[dict[str, Any]]:
        steps = []
        since = self.recorded_at - timedelta(days=RENEWAL_HISTORY_DAYS)
        for iccid, record in found.items():
            if provider == AIRHUB:
                # Settles GetRenewData's request and answer shape (only named by 3P code).
                request = TopUpRequest(iccid, record.reference, record.plan_code or "", "recording")
                outcome, result = _outcome(lambda r=request: client.find_top_up(r, since=since))
                steps.append(_step("renewal_history", outcome, result, iccid=iccid))
            elif provider == ESIMCARD:
                # Settles what `imei` means: the availability question a top-up asks first, nothing bought.
                outcome, result = _outcome(lambda i=iccid: client._check_top_up_available(i))
                steps.append(_step("top_up_available", outcome, result, iccid=iccid))
        return steps

    # --- redaction and writing ----------------------------------------------------------------------

    def recordings(self) -> tuple[list[ProviderRecording], Redactor]:
        """Redacted recordings of every provider run, and the redactor that made them."""
        redactor = Redactor(self.credentials)
        self._redact(redactor)  # first pass: learn every value to replace
        self.redactor = redactor
        return self._redact(redactor), redactor

    def _redact(self, redactor: Redactor) -> list[ProviderRecording]:
        recordings = []
        for provider, iccids, steps in self._runs.values():
            exchanges = _unique([raw.redact(redactor) for raw in self.recorder.raw(provider)])
            recordings.append(
                ProviderRecording(
                    provider=provider,
                    recorded_at=self.recorded_at,
                    source=self.source,
                    base_path=redactor.text(self._base_paths.get(provider, "")),
                    iccids=[redactor.text(iccid) for iccid in iccids],
                    steps=redactor.json(steps),
                    exchanges=exchanges,
                )
            )
        return recordings

    def write(self, root: Path, *, label: str = "") -> list[Path]:
        """Redact, scan every file, and only then write: one leak refuses the whole run."""
        recordings, redactor = self.recordings()
        planned = [(recording, recording.files()) for recording in recordings]
        originals = redactor.originals()
        for _recording, files in planned:
            check_files(files, self.credentials, originals)
        folders = []
        for recording, files in planned:
            folder = folder_for(root, recording.provider, self.recorded_at, label)
            folder.mkdir(parents=True)
            for name, text in files.items():
                (folder / name).write_text(text, encoding="utf-8")
            folders.append(folder)
        return folders


def _unique(exchanges: list[Exchange]) -> list[Exchange]:
    """Drop exact repeats (the same request answered the same way); keep every different answer."""
    kept: list[Exchange] = []
    by_key: dict[tuple, list[Exchange]] = {}
    for exchange in exchanges:
        same_request = by_key.setdefault(exchange.key(), [])
        if not any(exchange.same_answer(seen) for seen in same_request):
            same_request.append(exchange)
            kept.append(exchange)
    return kept
