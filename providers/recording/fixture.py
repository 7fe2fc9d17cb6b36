"""The recording format: one folder per provider and date, one JSON file per exchange.

    <root>/<provider>/<YYYY-MM-DD>[-<label>]/
        manifest.json             provider, recorded_at, source, the (fake) ICCIDs asked, what each call did
        001-post-api-...json      {"endpoint", "request": {...}, "response": {...}}
        expected.json             what the code makes of it (written by the replay test; see docs/providers.md)

Every value in these files has already been redacted (`providers.recording.redact`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

FORMAT = 1
MANIFEST = "manifest.json"
EXPECTED = "expected.json"
_SLUG = re.compile(r"[^a-z0-9]+")


def dumps(document: Any) -> str:
    """The one JSON layout of every file (stable diffs: sorted keys, two-space indent)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def canonical_body(body: Any) -> str | None:
    return None if body is None else json.dumps(body, sort_keys=True, separators=(",", ":"))


def request_key(
    method: str, path: str, query: list[list[str]] | list[tuple[str, str]], body: Any, match_body: bool
) -> tuple[str, str, tuple[tuple[str, str], ...], str | None]:
    """What identifies a request in a replay: method, path, sorted query and (for non-logins) the body."""
    pairs = tuple(sorted((str(name), str(value)) for name, value in query))
    return method.upper(), path, pairs, canonical_body(body) if match_body else None


@dataclass
class Exchange:
    """One request and the answer it got, already redacted."""

    provider: str
    endpoint: str  # the allow-list entry, e.g. "GET /my-esims/{id}"
    method: str
    path: str  # relative to the provider's base URL
    query: list[list[str]]
    request_headers: dict[str, str]
    request_body: Any
    status: int
    response_headers: dict[str, str]
    body: Any = None  # the decoded JSON answer
    body_text: str | None = None  # an answer that is not JSON
    elapsed_ms: int = 0
    match_body: bool = True

    def key(self) -> tuple:
        return request_key(self.method, self.path, self.query, self.request_body, self.match_body)

    def same_answer(self, other: Exchange) -> bool:
        return (self.status, self.body, self.body_text) == (other.status, other.body, other.body_text)

    def file_name(self, sequence: int) -> str:
        slug = _SLUG.sub("-", f"{self.method} {self.path}".lower()).strip("-")[:60]
        return f"{sequence:03d}-{slug}.json"

    def to_json(self) -> dict[str, Any]:
        response: dict[str, Any] = {"status": self.status, "headers": self.response_headers}
        if self.body_text is not None:
            response["body_text"] = self.body_text
        else:
            response["body"] = self.body
        return {
            "format": FORMAT,
            "provider": self.provider,
            "endpoint": self.endpoint,
            "request": {
                "method": self.method,
                "path": self.path,
                "query": self.query,
                "headers": self.request_headers,
                "body": self.request_body,
                "match_body": self.match_body,
            },
            "response": response,
            "elapsed_ms": self.elapsed_ms,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Exchange:
        request, response = document["request"], document["response"]
        return cls(
            provider=document["provider"],
            endpoint=document["endpoint"],
            method=request["method"],
            path=request["path"],
            query=[list(pair) for pair in request.get("query") or []],
            request_headers=request.get("headers") or {},
            request_body=request.get("body"),
            status=int(response["status"]),
            response_headers=response.get("headers") or {},
            body=response.get("body"),
            body_text=response.get("body_text"),
            elapsed_ms=int(document.get("elapsed_ms") or 0),
            match_body=bool(request.get("match_body", True)),
        )


@dataclass
class ProviderRecording:
    """Everything one provider answered in one recording run."""

    provider: str
    recorded_at: datetime
    source: str  # "live" or "sandbox"
    base_path: str
    iccids: list[str]
    steps: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "provider": self.provider,
            "recorded_at": self.recorded_at.isoformat().replace("+00:00", "Z"),
            "source": self.source,
            "base_path": self.base_path,
            "iccids": self.iccids,
            "steps": self.steps,
            "exchanges": len(self.exchanges),
        }

    def files(self) -> dict[str, str]:
        """File name -> text, the manifest included; nothing is written here."""
        files = {MANIFEST: dumps(self.manifest())}
        for sequence, exchange in enumerate(self.exchanges, start=1):
            files[exchange.file_name(sequence)] = dumps(exchange.to_json())
        return files


def folder_for(root: Path, provider: str, recorded_at: datetime, label: str = "") -> Path:
    """`<root>/<provider>/<date>[-label]`, with `-2`, `-3`... when that folder already exists."""
    name = recorded_at.date().isoformat() + (f"-{label}" if label else "")
    folder, serial = root / provider / name, 1
    while folder.exists():
        serial += 1
        folder = root / provider / f"{name}-{serial}"
    return folder


def load_recording(folder: Path) -> tuple[dict[str, Any], list[Exchange]]:
    """The manifest and the exchanges of one recording folder, in recorded order."""
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{folder}: recording format {manifest.get('format')!r}, expected {FORMAT}")
    exchanges = [
        Exchange.from_json(json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("[0-9][0-9][0-9]-*.json"))
    ]
    return manifest, exchanges


def recording_folders(root: Path) -> list[Path]:
    """Every recording under `root` (folders holding a manifest), sorted."""
    return sorted(path.parent for path in root.glob(f"*/*/{MANIFEST}"))
