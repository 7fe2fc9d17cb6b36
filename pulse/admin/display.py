"""Display helpers shared by the admin pages: pretty, escaped, redacted JSON and masked ICCIDs."""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

from providers.iccid import mask_iccid

HIDDEN = "[hidden]"
# Keys whose values let a stranger install an eSIM or act as us; never shown, even to staff.
_SECRET_KEY = re.compile(
    r"activation|matching_?id|lpa|qr_?code|confirmation_?code|secret|password|api_?key|token",
    re.IGNORECASE,
)


def redact(value: Any) -> Any:
    """A copy of a JSON value with secret-looking keys and `LPA:1$…` strings hidden."""
    if isinstance(value, dict):
        return {
            key: HIDDEN
            if _SECRET_KEY.search(str(key)) and value[key] not in (None, "")
            else redact(value[key])
            for key in value
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str) and value.strip().upper().startswith("LPA:"):
        return f"LPA:{HIDDEN}"
    return value


def pretty_json(value: Any) -> SafeString:
    """`<pre>` with the value as indented JSON; every character escaped by format_html."""
    text = json.dumps(redact(value), indent=2, sort_keys=True, ensure_ascii=False, default=str)
    # overflow-wrap: a URL in a payload is one long word; it wraps instead of widening the page.
    style = "white-space:pre-wrap;overflow-wrap:anywhere;margin:0;"
    return format_html('<pre class="pulse-json" style="{}">{}</pre>', style, text)


def collapsible_json(value: Any) -> SafeString:
    """Pretty JSON folded behind a "show" toggle, for wide tables (inlines)."""
    if not value:
        return format_html("{}", "—")
    return format_html("<details><summary>show</summary>{}</details>", pretty_json(value))


def masked(iccid: str) -> str:
    return mask_iccid(iccid) if iccid else ""
