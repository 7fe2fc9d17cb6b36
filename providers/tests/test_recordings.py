"""Every recording under providers/tests/recordings/ replays to the answer stored beside it.

A recording is what a provider really answered (redacted); `expected.json` is what our clients,
parsers and status lookup made of it when it was added. A change in either shows up here as a diff.
See docs/providers.md, "How to contribute a recording", and `recording_replay.py` for regenerating.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from providers.base import PROVIDER_NAMES
from providers.recording.fixture import EXPECTED, MANIFEST, load_recording, recording_folders
from providers.tests.recording_replay import UPDATE_ENV, compare_with_expected, replay

RECORDINGS = Path(__file__).parent / "recordings"
FOLDERS = recording_folders(RECORDINGS)


@pytest.mark.django_db
@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: f"{folder.parent.name}/{folder.name}")
def test_recording_replays_to_its_expected_answer(folder):
    actual = replay([folder])
    compare_with_expected(folder, actual)
    assert actual["unanswered"] == [], "the code asks for something this recording has no answer to"


def test_every_provider_has_a_recording():
    assert {folder.parent.name for folder in FOLDERS} >= set(PROVIDER_NAMES)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: f"{folder.parent.name}/{folder.name}")
def test_recordings_are_one_folder_per_provider_and_date(folder):
    manifest, exchanges = load_recording(folder)
    assert folder.parent.name == manifest["provider"]
    assert folder.name.startswith(manifest["recorded_at"][:10])
    assert exchanges, "a recording without any exchange"
    assert all(exchange.provider == manifest["provider"] for exchange in exchanges)


def test_every_unverified_shape_in_the_code_names_what_settles_it():
    """Each `Unverified` comment says which recording would settle it (or that none can)."""
    silent = []
    for path in sorted(Path(__file__).parents[1].rglob("*.py")):
        if "tests" in path.parts:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if "Unverified" in line and "record" not in " ".join(lines[number : number + 4]).lower():
                silent.append(f"{path.name}:{number + 1}")
    assert silent == []


@pytest.mark.django_db
def test_a_changed_answer_fails_with_a_readable_diff(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    source = next(folder for folder in FOLDERS if folder.parent.name == "travelroam")
    folder = tmp_path / "travelroam" / source.name
    shutil.copytree(source, folder)
    for path in folder.glob("*-post-esims-applied-bundles.json"):
        exchange = json.loads(path.read_text())
        for bundle in (exchange["response"].get("body") or {}).get("bundles", []):
            bundle["description"] = "eSIM, 1GB, 7 Days, Changed, V2"
        path.write_text(json.dumps(exchange))
    with pytest.raises(AssertionError) as caught:
        compare_with_expected(folder, replay([folder]))
    message = str(caught.value)
    assert "(expected)" in message
    assert "replayed now" in message
    assert '+      "plan_name": "eSIM, 1GB, 7 Days, Changed, V2"' in message
    assert f"{UPDATE_ENV}=1" in message


@pytest.mark.django_db
def test_update_mode_rewrites_the_expected_answer(tmp_path, monkeypatch):
    source = next(folder for folder in FOLDERS if folder.parent.name == "esimcard")
    folder = tmp_path / "esimcard" / source.name
    shutil.copytree(source, folder)
    (folder / EXPECTED).write_text("{}\n")
    monkeypatch.setenv(UPDATE_ENV, "1")
    compare_with_expected(folder, replay([folder]))
    assert (folder / EXPECTED).read_text() == (source / EXPECTED).read_text()
    assert (folder / MANIFEST).exists()
