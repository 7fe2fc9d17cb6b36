"""Sandbox simulators of the AirHub, eSIMCard and TravelRoam APIs (and CurrencyFreaks).

Pure Python (stdlib + requests), no Django. Use in-process through ``mount_sandbox`` or over real HTTP through
``start_server`` / ``python -m providers.sandbox``. Shapes follow docs/providers.md; see each module's docstring
for the shapes that are unverified there.
"""

from providers.sandbox.adapter import SANDBOX_BASE, SandboxAdapter, mount_sandbox, sandbox_base_urls
from providers.sandbox.credentials import AIRHUB_PARTNER_CODE, SANDBOX_CREDENTIALS
from providers.sandbox.dataset import DEMO_ICCIDS
from providers.sandbox.server import start_server, stop_server
from providers.sandbox.world import SandboxWorld, build_world, get_default_world, reset_default_world

__all__ = [
    "AIRHUB_PARTNER_CODE",
    "DEMO_ICCIDS",
    "SANDBOX_BASE",
    "SANDBOX_CREDENTIALS",
    "SandboxAdapter",
    "SandboxWorld",
    "build_world",
    "get_default_world",
    "mount_sandbox",
    "reset_default_world",
    "sandbox_base_urls",
    "start_server",
    "stop_server",
]
