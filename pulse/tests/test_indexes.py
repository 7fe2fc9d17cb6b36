"""rebuild_provider_indexes and `manage.py rebuild_indexes` against the in-process simulators."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from providers.observe import index_walks
from pulse.services.indexes import rebuild_provider_indexes

pytestmark = pytest.mark.django_db


@pytest.fixture
def walks():
    seen = []
    index_walks.subscribe(seen.append)
    yield seen
    index_walks.unsubscribe(seen.append)


def test_first_run_builds_every_index_and_a_second_finds_them_fresh(walks):
    first = rebuild_provider_indexes()
    second = rebuild_provider_indexes()

    assert set(first) == {"airhub", "esimcard"}  # TravelRoam is keyed by ICCID: no index
    assert first["esimcard"]["esims"]["rebuilt"] is True
    assert first["esimcard"]["esims"]["entries"] > 0
    assert first["airhub"]["order_history"]["rebuilt"] is True
    assert second["esimcard"]["esims"]["rebuilt"] is False
    assert second["airhub"]["order_history"]["rebuilt"] is False
    assert [(w.provider, w.kind) for w in walks] == [("airhub", "full"), ("esimcard", "full")]


def test_force_rebuilds_fresh_indexes(walks):
    rebuild_provider_indexes()
    report = rebuild_provider_indexes(force=True)

    assert report["esimcard"]["esims"]["rebuilt"] is True
    assert len([w for w in walks if w.provider == "esimcard"]) == 2


def test_the_command_prints_one_line_per_index():
    out = io.StringIO()
    call_command("rebuild_indexes", stdout=out)
    lines = out.getvalue().splitlines()

    assert any(line.startswith("esimcard esims: rebuilt,") for line in lines)
    assert any(line.startswith("airhub order_history: rebuilt,") for line in lines)
