"""`manage.py` in a fresh interpreter: settings are read once per process, so tests of what the
settings module derives from the environment start a new one with a minimal environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A development process that reads nothing from .env, logs to no file and needs no database on disk.
DEVELOPMENT_ENV = {
    "DEBUG": "true",
    "ESIM_READ_DOTENV": "false",
    "LOG_FILE": "",
    "DATABASE_URL": "sqlite:///:memory:",
}

# A production process (DEBUG off) with the least it needs to start.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "a-production-like-secret-key-with-enough-entropy-0123456789abcdef",
    "ALLOWED_HOSTS": "api.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
    "ESIM_READ_DOTENV": "false",
    "LOG_FILE": "",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # A minimal environment: the test process itself has test settings in os.environ.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "esim_status_checker.settings.base"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def shell_output(code: str, **env: str) -> str:
    """What `code` prints in `manage.py shell` of a development process with `env` on top."""
    result = run_manage("shell", "-v", "0", "-c", code, env={**DEVELOPMENT_ENV, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout
