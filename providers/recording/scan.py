"""The last check before a recording is written: no credential and no redacted value may survive.

Redaction works by rules; this scan works by values. It searches every file's final text for each
credential the environment configures (also JSON-escaped, URL-encoded and, for e-mail addresses, in
any case) and for every value the redactor replaced. A hit refuses the whole recording and names the
setting (or the kind of value), never the value itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import quote

from providers.recording.placeholders import UUID_PATTERN
from providers.recording.redact import ACTIVATION, IDENTIFIER, SUBSTRING_MIN

# Shorter values are too likely to occur by chance (a 3-digit user id in a price) to be searched;
# all-digit ones need one more digit (dates and byte counts are full of 6-digit runs).
ORIGINAL_MIN = 6
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")
_WORD = re.compile(r"[A-Za-z0-9]+")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._\-]+")


class RecordingLeak(Exception):
    """A file of the recording still holds a credential or a redacted value; nothing was written."""

    def __init__(self, file_name: str, what: str) -> None:
        super().__init__(f"refusing to write the recording: {file_name} still contains {what}")
        self.file_name = file_name
        self.what = what


def _variants(value: str) -> set[str]:
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), quote(value)}


def credential_in(text: str, value: str) -> bool:
    """Whether a credential occurs in the text; short ones only as a whole JSON string."""
    if len(value) < SUBSTRING_MIN:
        return f'"{json.dumps(value)[1:-1]}"' in text
    lowered = text.lower() if "@" in value else None  # e-mail addresses are case-insensitive
    for variant in _variants(value):
        if variant in text or (lowered is not None and variant.lower() in lowered):
            return True
    return False


def _tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text)) | set(_WORD.findall(text)) | set(UUID_PATTERN.findall(text))


def _searchable(value: str) -> bool:
    """Whether finding this value in a file proves a leak rather than a coincidence ("00000000")."""
    minimum = ORIGINAL_MIN + 1 if value.isdigit() else ORIGINAL_MIN
    return len(value) >= minimum and len(set(value)) > 1


def check_files(
    files: Mapping[str, str], credentials: Mapping[str, str], originals: Mapping[str, str]
) -> None:
    """Raise RecordingLeak for the first file holding a credential (by setting name) or an original."""
    for file_name, text in files.items():
        for label, value in credentials.items():
            if value and credential_in(text, str(value)):
                raise RecordingLeak(file_name, f"the value of {label}")
        tokens = _tokens(text)
        for value, kind in originals.items():
            if not _searchable(value):
                continue
            if kind in (IDENTIFIER, ACTIVATION) and _TOKEN_CHARS.fullmatch(value):
                leaked = value in tokens
            else:
                leaked = any(variant in text for variant in _variants(value))
            if leaked:
                raise RecordingLeak(file_name, f"a value redacted as {kind}")
