import pytest

from providers.base import PROVIDER_NAMES
from providers.tests.fakes import FakeProvider


@pytest.fixture
def fake_providers(monkeypatch):
    """Replace the provider registry with one FakeProvider per provider name."""
    from pulse.services import providers as registry

    fakes = {name: FakeProvider(name) for name in PROVIDER_NAMES}
    monkeypatch.setattr(registry, "_clients", fakes)
    return fakes
