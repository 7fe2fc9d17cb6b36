"""Fixtures for the sandbox simulator tests: every API test runs over BOTH transports.

``inprocess``: a requests.Session with ``mount_sandbox`` (no sockets).
``http``: the real threaded server on 127.0.0.1 with an OS-chosen port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from providers.sandbox import (
    SandboxWorld,
    build_world,
    mount_sandbox,
    sandbox_base_urls,
    start_server,
    stop_server,
)
from providers.sandbox.tests.helpers import Sandbox


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Shadows the repository-wide autouse cache fixture: the simulators use no Django."""


@pytest.fixture(scope="session")
def shared_world() -> SandboxWorld:
    return build_world()


@pytest.fixture(scope="session")
def shared_server(shared_world: SandboxWorld) -> Iterator[str]:
    server, thread, base_url = start_server(shared_world)
    yield base_url
    stop_server(server, thread)


def _session_for(world: SandboxWorld, transport: str, base_url: str | None) -> tuple[requests.Session, dict]:
    session = requests.Session()
    if transport == "inprocess":
        mount_sandbox(session, world)
        return session, sandbox_base_urls()
    return session, sandbox_base_urls(base_url or "")


@pytest.fixture(params=["inprocess", "http"])
def sandbox(request: pytest.FixtureRequest, shared_world: SandboxWorld) -> Iterator[Sandbox]:
    """The demo world, reset for every test, over both transports."""
    shared_world.reset()
    base_url = request.getfixturevalue("shared_server") if request.param == "http" else None
    session, urls = _session_for(shared_world, request.param, base_url)
    yield Sandbox(shared_world, session, urls, request.param)
    session.close()
    shared_world.reset()


@pytest.fixture(params=["inprocess", "http"])
def make_sandbox(request: pytest.FixtureRequest) -> Iterator[Callable[[SandboxWorld], Sandbox]]:
    """Factory for tests that need their own world (filler sizes, token TTL), over both transports."""
    servers = []

    def factory(world: SandboxWorld) -> Sandbox:
        base_url = None
        if request.param == "http":
            server, thread, base_url = start_server(world)
            servers.append((server, thread))
        session, urls = _session_for(world, request.param, base_url)
        return Sandbox(world, session, urls, request.param)

    yield factory
    for server, thread in servers:
        stop_server(server, thread)
