"""The Procfile and README's table of production processes name the same commands (issue 12, item 5)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `| web | `gunicorn ...` (what it does) | how many |` in README's "Processes" table
README_ROW = re.compile(r"^\s*\|\s*(web|worker|beat)\s*\|\s*`([^`]+)`", re.MULTILINE)
DEFAULTED = re.compile(r"\$\{\w+:-([^}]*)\}")  # ${PORT:-8000} -> 8000, as a shell without PORT reads it


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    entries = (line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {name.strip(): DEFAULTED.sub(r"\1", command.strip()) for name, command in entries}


def test_the_procfile_runs_the_processes_the_readme_lists():
    documented = dict(README_ROW.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    processes = procfile()

    assert set(documented) == {"web", "worker", "beat"}
    assert {name: processes.get(name) for name in documented} == documented
    assert processes["worker"].startswith("celery -A esim_status_checker worker")
    assert processes["beat"].startswith("celery -A esim_status_checker beat")
