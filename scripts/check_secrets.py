#!/usr/bin/env python3
"""Fail when a credential-like string is committed (run by `make lint`, hence by CI).

Scans the files git tracks (plus new, not yet ignored files) for private keys, live or
long-looking Stripe keys, bearer tokens, and password / api key / secret assignments with a
literal value. Obvious fakes used by tests and the sandbox ("fake", "sandbox", "test", "example",
"not-a-secret", "dummy", "placeholder", "changeme", `<...>` placeholders) are allowed. A line can
opt out with the marker `secret-scan: allow` and a reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_SUFFIXES = {".png", ".jpg", ".gif", ".ico", ".woff", ".woff2", ".sqlite3", ".lock"}
FAKE_MARKERS = (
    "fake",
    "sandbox",
    "test",
    "example",
    "not-a-secret",
    "dummy",
    "placeholder",
    "changeme",
    "your-",
    "xxx",
    "<",
    "${",
    "insecure",
)

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("private key block", re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY")),
    ("Stripe live key", re.compile(r"\b(?:sk|rk|pk)_live_[A-Za-z0-9]{8,}")),
    ("Stripe secret key", re.compile(r"\b(?:sk|rk)_test_[A-Za-z0-9]{20,}")),
    ("Stripe webhook secret", re.compile(r"\bwhsec_[A-Za-z0-9]{20,}")),
    ("AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("bearer token", re.compile(r"Bearer\s+[A-Za-z0-9._~+/=|\-]{24,}")),
    (
        "credential assignment",
        re.compile(
            r"""(?ix)\b[\w.]*(?:password|passwd|secret|api[_-]?key|apikey|access[_-]?token|client[_-]?secret)
            \s*[:=]\s*["']([^"'\s]{8,})["']"""
        ),
    ),
]
# KEY=value lines only mean a literal credential in config-style files, not in Python code.
ENV_STYLE = (
    "credential in .env style file",
    re.compile(
        r"(?i)^\s*(?:export\s+)?[A-Z_]*(?:PASSWORD|SECRET|API_KEY|TOKEN)[A-Z_]*\s*=\s*([^\s#]{8,})\s*$"
    ),
)
CONFIG_SUFFIXES = {".env", ".example", ".ini", ".cfg", ".toml", ".yml", ".yaml", ".sh", ".conf", ""}


def tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [ROOT / line for line in listing.stdout.splitlines() if line]


_KEY_PREFIXES = re.compile(r"^(?:sk|rk|pk)_(?:test|live)_|^whsec_")


def looks_fake(value: str) -> bool:
    # "sk_test_" says test mode, not "fake": judge only the part after a key prefix.
    lowered = _KEY_PREFIXES.sub("", value.lower())
    return any(marker in lowered for marker in FAKE_MARKERS)


def scan_text(text: str, *, config_style: bool = False) -> list[tuple[int, str]]:
    findings = []
    patterns = [*PATTERNS, ENV_STYLE] if config_style else PATTERNS
    for number, line in enumerate(text.splitlines(), start=1):
        if "secret-scan: allow" in line:
            continue
        for label, pattern in patterns:
            match = pattern.search(line)
            if not match:
                continue
            value = match.group(match.lastindex or 0)
            if looks_fake(value):
                continue
            findings.append((number, label))
    return findings


def main() -> int:
    problems = []
    for path in tracked_files():
        if path.suffix in SKIP_SUFFIXES or not path.is_file() or path.name == "check_secrets.py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        problems.extend(f"{path.relative_to(ROOT)}:{line}: {label}" for line, label in scan_text(text))
    if problems:
        sys.stderr.write("Credential-like strings found (use the environment instead):\n")
        sys.stderr.write("\n".join(problems) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
