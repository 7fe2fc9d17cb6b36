"""The hosted checkout page a person clicks through (a session's ``url``): Pay / Fail post to the control
routes with ``?redirect=1``, which answer 303 to the session's ``success_url`` as Stripe Checkout would."""

from __future__ import annotations

import html
from typing import Any

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake Stripe Checkout</title>
<style>body{{font-family:sans-serif;max-width:34rem;margin:3rem auto}} form{{display:inline}}
button,a{{margin-right:.5rem;padding:.4rem 1rem;font-size:1rem}}</style></head>
<body><h1>Fake Stripe Checkout</h1><p>Test mode: nothing is charged. Amounts are in minor units.</p>
<table>{rows}</table>
<p>Total: <strong>{total} {currency}</strong></p>
<p>Session <code>{session_id}</code> is <strong>{status}</strong> ({payment_status}).</p>
{actions}
</body></html>
"""


def render_checkout_page(session: dict[str, Any], items: list[dict[str, Any]]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(item['description'])}</td>"
        f"<td>{item['quantity']} &times; {item['price']['unit_amount']}</td></tr>"
        for item in items
    )
    actions = ""
    if session["status"] == "open":
        base = f"/_test/sessions/{esc(session['id'])}"
        actions = (
            f'<form method="post" action="{base}/pay?redirect=1"><button>Pay</button></form>'
            f'<form method="post" action="{base}/fail?redirect=1"><button>Fail</button></form>'
        )
        if session["cancel_url"]:  # like Stripe's back link: leave the session open and go back
            actions += f'<a href="{esc(session["cancel_url"])}">Cancel</a>'
    return _PAGE.format(
        rows=rows,
        total=session["amount_total"],
        currency=esc(session["currency"].upper()),
        session_id=esc(session["id"]),
        status=esc(session["status"]),
        payment_status=esc(session["payment_status"]),
        actions=actions,
    )
