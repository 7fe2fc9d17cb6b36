"""A separate OS process that places top-ups in a shared sandbox world (test_shared_world.py starts several).

    python -m providers.sandbox.tests.shared_world_worker STATE_FILE COUNT GO_FILE

Waits until GO_FILE exists (so all workers start together), then places COUNT TravelRoam top-ups and COUNT
eSIMCard purchases through the in-process transport, and prints one JSON line with the references it got.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import requests

from providers.sandbox import DEMO_ICCIDS, build_world, mount_sandbox, sandbox_base_urls
from providers.sandbox.tests.helpers import Sandbox

SECRET = "fake-shared-world-test-secret"
TURKEY = DEMO_ICCIDS["travelroam_expired_turkey"]
FRANCE = DEMO_ICCIDS["esimcard_partial_france"]
GERMANY_500MB = "eSIM, 500MB, 7 Days, Germany, Unthrottled"  # the cheapest package: 1.99


def place_topups(sandbox: Sandbox, count: int) -> list[str]:
    """``count`` top-ups at each of TravelRoam and eSIMCard; the TravelRoam order references."""
    package_id = next(p.id for p in sandbox.world.data.card_packages.values() if p.name == GERMANY_500MB)
    references = []
    for _ in range(count):
        order = sandbox.travelroam("/processorders", {"bundleName": "esim_1GB_7D_TR_V2", "iccid": TURKEY})
        order.raise_for_status()
        references.append(order.json()["orderReference"])
        body = {"imei": FRANCE, "package_type_id": package_id}
        purchase = sandbox.esimcard("POST", "/package/purchase", json=body)
        if purchase.json().get("status") is not True:
            raise RuntimeError(f"eSIMCard purchase refused: {purchase.text}")
    return references


def main(state_file: str, count: int, go_file: str) -> None:
    world = build_world(state_path=state_file, state_secret=SECRET)
    session = requests.Session()
    mount_sandbox(session, world)
    sandbox = Sandbox(world, session, sandbox_base_urls(), "inprocess")
    deadline = time.monotonic() + 30
    while not Path(go_file).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    sys.stdout.write(json.dumps(place_topups(sandbox, count)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
