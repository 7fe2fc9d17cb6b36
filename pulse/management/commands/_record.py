"""`provider_smoke --record DIR`: the recording part of the smoke command, kept apart from the probe."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from providers.base import PROVIDER_NAMES
from providers.iccid import IccidError, mask_iccid, validate_iccid
from providers.recording.scan import RecordingLeak
from pulse.services.recordings import provider_recording_run


def add_record_arguments(parser) -> None:
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="record the raw answers of every read-only endpoint into DIR/<provider>/<date>/ (redacted)",
    )
    parser.add_argument(
        "--iccid",
        action="append",
        default=[],
        metavar="ICCID",
        help="with --record: an ICCID to look up (repeatable); use eSIMs of your own account",
    )
    parser.add_argument(
        "--provider",
        action="append",
        choices=PROVIDER_NAMES,
        help="with --record: only this provider (repeatable; default: every configured one)",
    )
    parser.add_argument(
        "--order-reference",
        action="append",
        default=[],
        metavar="REF",
        help="with --record: a TravelRoam order reference whose eSIMs to read (repeatable)",
    )
    parser.add_argument(
        "--label", help="with --record: folder suffix after the date (default: none; sandbox: 'sandbox')"
    )


def record(command: BaseCommand, options: dict) -> None:
    try:
        iccids = [validate_iccid(raw, require_luhn=settings.ICCID_REQUIRE_LUHN) for raw in options["iccid"]]
    except IccidError as exc:
        raise CommandError(f"--iccid: {exc}") from exc
    mode = "sandbox simulators" if settings.ESIM_SANDBOX else "live endpoints"
    command.stdout.write(f"recording read-only answers ({mode}) for {len(iccids)} ICCID(s):")
    try:
        report = provider_recording_run(
            root=Path(options["record"]),
            iccids=iccids,
            providers=options["provider"] or PROVIDER_NAMES,
            label=options["label"],
            order_references=options["order_reference"],
        )
    except RecordingLeak as exc:
        raise CommandError(f"{exc}. Nothing was written; please report this redaction gap.") from exc
    for name, steps in report.steps.items():
        if steps is None:
            command.stdout.write(f"  {name:<11} not configured (set its credentials to record it)")
            continue
        command.stdout.write(f"  {name:<11} " + "; ".join(_describe(step) for step in steps))
    for folder in report.folders:
        command.stdout.write(command.style.SUCCESS(f"  written: {folder}"))
    if report.refused:
        command.stderr.write("refused (not read-only, never sent): " + ", ".join(report.refused))
        raise SystemExit(1)


def _describe(step: dict) -> str:
    iccid = f" {mask_iccid(step['iccid'])}" if step.get("iccid") else ""
    counts = [f"{step[key]} {key}" for key in ("bundles", "esims") if key in step]
    extra = f" ({', '.join(counts)})" if counts else ""
    return f"{step['call']}{iccid} {step['outcome']}{extra}"
