"""Shared pytest fixtures for the whole repository."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts with an empty cache (tokens, status answers, rates, throttles)."""
    from django.conf import settings

    if not settings.configured:  # plain-Python runs (pytest -p no:django) have no Django cache
        yield
        return
    from django.core.cache import cache

    from pulse.services.providers import reset_clients

    cache.clear()
    reset_clients()  # clients keep process-local copies of tokens and indexes; start without them
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _isolated_sandbox_world():
    """Every test starts with the in-memory simulator world as built: one that a test changed (a top-up,
    a fault, a login) is reset afterwards, whether or not that test's fixtures reset it themselves."""
    from providers.sandbox import get_default_world

    world = get_default_world()
    before = world.generation
    yield
    if world.generation != before:
        world.reset()
