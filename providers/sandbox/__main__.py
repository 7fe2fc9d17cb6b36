"""``python -m providers.sandbox --port 8765 --host 127.0.0.1 --latency-ms 100 --esims 0 --orders 0 --seed 1``

With ``--state PATH`` the server serves the world shared through that state file (providers/sandbox/README.md),
e.g. the one the Django processes use (``ESIM_SANDBOX_STATE``; give the same ``SECRET_KEY``).
"""

from __future__ import annotations

import argparse
import logging
import os

from providers.sandbox.adapter import sandbox_base_urls
from providers.sandbox.server import SandboxHTTPServer
from providers.sandbox.world import build_world


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m providers.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed at startup)")
    parser.add_argument("--latency-ms", type=float, default=0, help="sleep per provider request")
    parser.add_argument("--esims", type=int, default=0, help="synthetic eSIMs at eSIMCard and TravelRoam")
    parser.add_argument("--orders", type=int, default=0, help="extra synthetic AirHub orders")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--token-ttl", type=float, default=3600, help="token lifetime in seconds")
    parser.add_argument("--state", help="share the world through this state file (default: in memory)")
    parser.add_argument(
        "--state-secret",
        # The Django wiring keys the file with SECRET_KEY; reading the same variable keeps both ends in step.
        default=os.environ.get("SECRET_KEY", ""),
        help="key of the state file's integrity check (default: $SECRET_KEY)",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    world = build_world(
        extra_esims=args.esims,
        extra_orders=args.orders,
        seed=args.seed,
        latency_ms=args.latency_ms,
        token_ttl_seconds=args.token_ttl,
        state_path=args.state,
        state_secret=args.state_secret,
    )
    server = SandboxHTTPServer((args.host, args.port), world)
    base_url = f"http://{args.host}:{server.server_port}"
    # One line a script can parse to learn the chosen port (with --port 0).
    urls = ", ".join(sandbox_base_urls(base_url).values())
    print(f"eSIM sandbox listening on {base_url} ({urls})", flush=True)  # noqa: T201
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
