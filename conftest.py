"""Shared pytest fixtures for the whole repository."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts with an empty cache (tokens, status answers, rates, throttles)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
