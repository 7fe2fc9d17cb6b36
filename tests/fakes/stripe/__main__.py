"""Command line for the fake Stripe server (``tests.fakes.stripe``), for operators and
multi-process tests:

    python -m tests.fakes.stripe --port 12111 \\
        --webhook-url http://127.0.0.1:8000/api/esim/stripe/webhook/ --webhook-secret whsec_test_fake

Then point the app at it with ``STRIPE_API_BASE=http://127.0.0.1:12111`` and any ``sk_test_...`` key, open a
session's ``url`` to pay, or drive it through the ``/_test/...`` routes with curl.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading

from tests.fakes.stripe.server import start_fake_stripe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.stripe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=12111, help="port; 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--webhook-url", help="where to POST signed events, e.g. the app's Stripe webhook URL"
    )
    parser.add_argument(
        "--webhook-secret",
        # Reusing the app's variable keeps the two ends in step without pasting the secret twice.
        default=os.environ.get("STRIPE_WEBHOOK_SECRET"),
        help="whsec_... signing secret (default: $STRIPE_WEBHOOK_SECRET)",
    )
    parser.add_argument("--public-base", help="base URL for checkout page links, if not the bound address")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request line too")
    args = parser.parse_args(argv)
    if args.webhook_url and not args.webhook_secret:
        parser.error("--webhook-url needs --webhook-secret (or STRIPE_WEBHOOK_SECRET)")

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    server = start_fake_stripe(
        args.host, args.port, args.webhook_url, args.webhook_secret, public_base=args.public_base
    )
    webhooks = args.webhook_url or "off"
    print(f"fake Stripe on {server.base_url} (webhooks: {webhooks}); Ctrl-C stops", flush=True)  # noqa: T201
    try:
        threading.Event().wait()  # the server runs on its own thread; park here until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
