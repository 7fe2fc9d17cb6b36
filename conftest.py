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
