"""Recording what the configured providers really answer (docs/providers.md, "How to contribute a recording").

`provider_recording_run` builds a bare client per provider (its own in-memory cache, no breaker)
whose transport refuses anything but the read-only allow-list, asks the recording questions, then
redacts, scans for the environment's credentials and writes `<root>/<provider>/<date>[-label]/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from providers.base import PROVIDER_NAMES
from providers.cache import MemoryCache
from providers.recording.redact import Redactor
from providers.recording.session import RecordingSession
from pulse.services.providers import build_client

# Settings whose values are credentials: the scan refuses a recording that still holds any of them.
_CREDENTIAL_SETTING = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|API_KEY|TOKEN|USERNAME|_USER|_EMAIL)$")


@dataclass
class RecordingReport:
    folders: list[Path] = field(default_factory=list)
    steps: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)  # None: not configured
    refused: list[str] = field(default_factory=list)
    # In memory only: turns a live answer into the recording's fakes (how tests compare the two).
    redactor: Redactor | None = None


def credential_settings() -> dict[str, str]:
    """Setting name -> value of every credential in effect (with the sandbox's when ESIM_SANDBOX)."""
    found = {
        name: value
        for name in dir(settings)
        if _CREDENTIAL_SETTING.search(name) and isinstance(value := getattr(settings, name, None), str)
    }
    if settings.ESIM_SANDBOX:
        from providers.sandbox import SANDBOX_CREDENTIALS

        for provider, fields in SANDBOX_CREDENTIALS.items():
            found.update({f"the sandbox {provider} {name}": value for name, value in fields.items()})
    return {label: value for label, value in found.items() if value}


def provider_recording_run(
    *,
    root: Path,
    iccids: Iterable[str],
    providers: Iterable[str] = PROVIDER_NAMES,
    label: str | None = None,
    order_references: Iterable[str] = (),
) -> RecordingReport:
    """Record every configured provider in `providers`; raises RecordingLeak before writing anything."""
    source = "sandbox" if settings.ESIM_SANDBOX else "live"
    session = RecordingSession(credential_settings(), source=source, recorded_at=timezone.now())
    report = RecordingReport()
    for name in providers:
        client = build_client(name, client_cache=MemoryCache(), prepare_session=partial(session.attach, name))
        if client is None:
            report.steps[name] = None
            continue
        report.steps[name] = session.run(name, client, list(iccids), order_references=tuple(order_references))
    report.refused = list(session.recorder.refused)
    if any(steps is not None for steps in report.steps.values()):
        default_label = "sandbox" if source == "sandbox" else ""
        report.folders = session.write(root, label=default_label if label is None else label)
        report.redactor = session.redactor
    return report
