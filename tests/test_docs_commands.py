"""The commands in README.md and docs/*.md work as written in a fresh clone (issue 11, item 11).

Nothing activates `.venv`, so a bare `python manage.py …` fails with `ModuleNotFoundError: django`:
the docs call `.venv/bin/python` (what `make venv` creates) or a make target. Every documented
`manage.py` command must exist and accept the options shown, and every `make X` must be a target.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV_PYTHON = ".venv/bin/python"

BARE_PYTHON = re.compile(r"(?<![\w/.\-])python3?\s+(?:manage\.py|-m\s)")
MACOS_OPEN = re.compile(r"(?:^|[`;&|]\s*)open\s+https?://", re.MULTILINE)
# `.venv/bin/python manage.py <command> <args>` up to a comment, a closing backtick or the line end;
# a trailing backslash continues the command on the next line.
MANAGE = re.compile(r"\.venv/bin/python manage\.py ((?:[^`#\n\\]|\\\n)+)")
SHELL_OPERATOR = re.compile(r"\s(?:\|\||&&|;|\||\d?>>?)(?:\s|&)")  # where the command's arguments end
MAKE = re.compile(r"(?<![\w-])make ([a-z][a-z-]*)\b")
NOT_TARGETS = {"the", "it", "sure"}  # prose: "make the ...", "make sure ..."
SHELL_BLOCK = re.compile(r"^```(?:bash|sh|shell|console|cron)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _where(path: Path, text: str, offset: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, offset) + 1}"


def _documented_manage_commands() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = _text(path)
        for match in MANAGE.finditer(text):
            found.append((_where(path, text, match.start()), match.group(1)))
    return found


def _as_arguments(command_line: str) -> list[str]:
    """What a reader types: `[--json]` is optional (typed here), `a|b` is a choice (the first taken)."""
    command_line = SHELL_OPERATOR.split(command_line, maxsplit=1)[0]
    flat = command_line.replace("\\\n", " ").replace("\\|", "|").replace("[", " ").replace("]", " ")
    return [word.split("|")[0] for word in shlex.split(flat)]


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_no_command_needs_an_activated_virtualenv_or_macos(path):
    text = _text(path)
    bare = [_where(path, text, m.start()) for m in BARE_PYTHON.finditer(text)]
    opens = [_where(path, text, m.start()) for m in MACOS_OPEN.finditer(text)]
    assert not bare, f"use {VENV_PYTHON} (nothing activates .venv): {bare}"
    assert not opens, f"`open` is macOS-only: {opens}"


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_shell_blocks_can_be_pasted_as_they_are(path):
    """`[--json]` is usage notation: pasted into a shell it is an unknown argument. Blocks show runnable
    commands and name the optional flags in the comment."""
    text = _text(path)
    notation = [
        _where(path, text, block.start(1) + command.start())
        for block in SHELL_BLOCK.finditer(text)
        for command in MANAGE.finditer(block.group(1))
        if "[" in command.group(1)
    ]
    assert not notation, f"optional-argument brackets in a shell block: {notation}"


def test_the_docs_show_manage_commands_at_all():
    names = {_as_arguments(line)[0] for _, line in _documented_manage_commands()}
    assert {"check_esim", "provider_smoke", "sync_catalog", "find_bundle", "process_renewals"} <= names


@pytest.mark.parametrize(
    ("where", "command_line"), _documented_manage_commands(), ids=lambda value: value.split()[0]
)
def test_every_documented_manage_command_exists_and_accepts_its_options(where, command_line):
    name, *arguments = _as_arguments(command_line)
    commands = get_commands()
    assert name in commands, f"{where}: no management command {name!r}"
    command = load_command_class(commands[name], name)
    parser = command.create_parser("manage.py", name)
    parser.parse_args(arguments)  # raises CommandError on an unknown option or a missing argument


def test_the_makefile_creates_the_virtualenv_the_docs_call():
    makefile = _text(ROOT / "Makefile")
    assert re.search(r"^VENV \?= \.venv$", makefile, re.MULTILINE)
    assert re.search(r"^PY := \$\(VENV\)/bin/python$", makefile, re.MULTILINE)


def test_every_documented_make_target_exists():
    targets = set(re.findall(r"^([a-z][a-z-]*):", _text(ROOT / "Makefile"), re.MULTILINE))
    missing = []
    for path in DOCS:
        text = _text(path)
        for match in MAKE.finditer(text):
            if match.group(1) not in targets | NOT_TARGETS:
                missing.append(f"{_where(path, text, match.start())} make {match.group(1)}")
    assert not missing, missing
