"""Redaction of provider answers before a recording touches the disk (docs/providers.md, "Recordings").

Rules, by the JSON key a value sits under (case, `_` and `-` ignored) and by what the value looks like:

- secrets: tokens, passwords, API keys, client secrets -> a fake of the same shape, and every later
  occurrence of the same value anywhere (a bearer header, an error message) gets the same fake;
- activation material: matchingId, activation codes, LPA strings (`LPA:1$<SM-DP+>$<code>`, also
  URL-encoded inside links), QR text and image links, PIN/PUK -> the code is faked, the SM-DP+ host kept
  (it is public and the answers show it);
- people: e-mail addresses (anywhere), names and phone numbers (by key; `name` only inside a person-like
  object such as `user`, so bundle and country names stay readable) -> fakes of the same shape;
- identifiers: ICCIDs (any 89-prefixed 18-22 digit run), UUIDs (anywhere), order / eSIM / renewal ids
  and the partner code (by key) -> consistent fakes: the same real value gets the same fake in the
  whole recording, so the requests and answers still fit together when replayed.

The environment's credentials are known up front, so they are replaced wherever they appear.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from providers.recording.placeholders import EMAIL_PATTERN, ICCID_PATTERN, UUID_PATTERN, FakeBook

# Values at least this long are replaced wherever they occur inside other text; shorter ones only
# when a whole string equals them (a 4-digit PIN must not rewrite every "2025" in the answer).
SUBSTRING_MIN = 8
# `known()` translates only values at least this long (ids, ICCIDs, UUIDs); see `_known_value`.
KNOWN_MIN = 6
SHORT = 4

SECRET_KEYS = frozenset(
    {
        "token", "accesstoken", "refreshtoken", "idtoken", "authtoken", "bearertoken", "jwt",
        "apikey", "xapikey", "clientsecret", "secret", "password", "passwd", "authorization",
        "sessionid", "cookie", "setcookie", "signature", "otp",
    }
)  # fmt: skip
SECRET_SUFFIXES = ("token", "secret", "password", "apikey")
ACTIVATION_KEYS = frozenset(
    {
        "matchingid", "activationcode", "confirmationcode", "lpa", "lpastring", "lpacode", "ac",
        "qrcode", "qrcodetext", "qrcodeurl", "qrcodeimage", "qrimage", "qr", "qrdata",
        "pin", "pin1", "pin2", "puk", "puk1", "puk2",
    }
)  # fmt: skip
PERSON_KEYS = frozenset(
    {
        "firstname", "lastname", "fullname", "surname", "givenname", "middlename", "displayname",
        "customername", "username", "contactname", "holdername", "accountname", "nickname",
        "email", "emailaddress", "mail", "phone", "phonenumber", "mobile", "mobilenumber", "msisdn",
        "telephone", "whatsapp", "address", "streetaddress", "billingaddress", "postcode", "zipcode",
        "postalcode", "ip", "ipaddress", "imei",
    }
)  # fmt: skip
PERSON_PARENTS = frozenset(
    {
        "user",
        "customer",
        "reseller",
        "owner",
        "account",
        "contact",
        "profile",
        "client",
        "organisation",
        "organization",
    }
)
ID_KEYS = frozenset(
    {
        "id", "orderid", "orderno", "ordernumber", "uniqueorderid", "renewid", "simid", "esimid",
        "orderreference", "assignmentreference", "reference", "partnercode", "partnerid", "userid",
        "customerid", "transactionid", "accountid", "resellerid", "invoiceid", "paymentid",
    }
)  # fmt: skip

SECRET, ACTIVATION, PERSON, IDENTIFIER, PLAIN = "secret", "activation", "person", "id", "plain"

_LPA_RAW = re.compile(r"(LPA:1\$[^$\s\"'&<>]*\$)([^$\s\"'&<>]+)", re.IGNORECASE)
_LPA_ENCODED = re.compile(r"(LPA%3A1%24(?:(?!%24)[^\s\"'&<>])*%24)([A-Za-z0-9._\-]+)", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
# A bearer token, not a challenge parameter such as `Bearer error="invalid_token"`.
_BEARER = re.compile(r"\b(Bearer\s+)([A-Za-z0-9\-._~+/|]{8,}=*)(?![A-Za-z0-9\-._~+/|=\"])", re.IGNORECASE)
_LONG_DIGITS = re.compile(r"(?<![A-Za-z0-9])\d{6,}(?![A-Za-z0-9])")
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def normalise_key(key: object) -> str:
    return _NON_ALNUM.sub("", str(key).lower())


def kind_of(key: str, parent: str) -> str:
    """What a value under `key` (inside an object under `parent`) is, by its key alone."""
    norm = normalise_key(key)
    if norm in SECRET_KEYS or norm.endswith(SECRET_SUFFIXES):
        return SECRET
    if norm in ACTIVATION_KEYS:
        return ACTIVATION
    if norm in PERSON_KEYS or (norm == "name" and normalise_key(parent) in PERSON_PARENTS):
        return PERSON
    if norm in ID_KEYS:
        return IDENTIFIER
    return PLAIN


class Redactor:
    """Replaces sensitive values with consistent fakes; one instance per recording (all providers).

    `credentials` maps a label (the setting's name) to its value; labels are never written anywhere.
    Holds the real -> fake mapping in memory only, for the final scan (`originals`).
    """

    def __init__(self, credentials: Mapping[str, str] | None = None) -> None:
        self.book = FakeBook()
        self._substring_secrets: dict[str, str] = {}  # real -> fake, replaced anywhere in text
        self._whole_secrets: set[str] = set()  # short reals replaced only as a whole string
        self._originals: dict[str, str] = {}  # real -> kind, for the final scan
        for value in (credentials or {}).values():
            if value:
                self._secret(str(value))

    # --- public -----------------------------------------------------------------------------------

    def json(self, value: Any, key: str = "", parent: str = "") -> Any:
        """A redacted copy of a decoded JSON document (types kept: an int id stays an int)."""
        if isinstance(value, dict):
            return {self._dict_key(k): self.json(v, str(k), key) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(item, key, parent) for item in value]
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        kind = kind_of(key, parent)
        if isinstance(value, int):
            return self._int(value, kind)
        return self._string(str(value), kind)

    def text(self, text: str) -> str:
        """Free text (a message, a URL, a non-JSON body): pattern and known-value rules only."""
        return self._text(text)

    def csv(self, text: str) -> str:
        """A CSV answer (eSIM Go's default for assignments): each cell by its column's name."""
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return self._text(text)
        header, out = rows[0], io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([self._text(name) for name in header])
        for row in rows[1:]:
            writer.writerow(
                [self.json(cell, key=header[i] if i < len(header) else "") for i, cell in enumerate(row)]
            )
        return out.getvalue()

    def header(self, name: str, value: str) -> str:
        kind = kind_of(name, "")
        if kind == SECRET:
            match = _BEARER.match(value)
            if match:
                return match.group(1) + self._secret(match.group(2))
            return self._secret(value)
        return self._text(value)

    def known(self, value: Any) -> Any:
        """A copy with every value this redactor has replaced swapped for its fake, and nothing else
        touched or newly faked: how a live answer looks in terms of its recording (for comparisons)."""
        if isinstance(value, dict):
            return {self.book.get(str(k)) or k: self.known(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.known(item) for item in value]
        if isinstance(value, bool) or not isinstance(value, int | str):
            return value
        if isinstance(value, int):
            fake = self._known_value(str(value))
            return int(fake) if fake.isdigit() else value
        exact = self.book.get(value) if len(value) >= SHORT else None
        return exact if exact is not None else _TOKEN.sub(lambda m: self._known_value(m.group()), value)

    def _known_value(self, value: str) -> str:
        # Short values (a day count of 7, a user id of 30) stay: the same digits mean other things.
        return (self.book.get(value) or value) if len(value) >= KNOWN_MIN else value

    def originals(self) -> dict[str, str]:
        """real value -> kind of every value replaced so far (for the final scan; never written)."""
        return dict(self._originals)

    # --- rules --------------------------------------------------------------------------------------

    def _int(self, value: int, kind: str) -> int:
        text = str(value)
        if value <= 0:
            return value
        if kind in (SECRET, ACTIVATION, PERSON, IDENTIFIER) or ICCID_PATTERN.fullmatch(text):
            return int(self._identifier(text))
        if len(text) >= 6 and self._originals.get(text) == IDENTIFIER:
            return int(self.book.fake(text))  # a known id under another key (found by the first pass)
        return value

    def _string(self, value: str, kind: str) -> str:
        if not value.strip():
            return value
        if kind == SECRET:
            return self._secret(value)
        if kind == ACTIVATION:
            return self._activation(value)
        if kind == PERSON:
            return self._person(value)
        if kind == IDENTIFIER and not (ICCID_PATTERN.search(value) or UUID_PATTERN.search(value)):
            return self._identifier(value)
        return self._text(value)

    def _secret(self, value: str, kind: str = SECRET) -> str:
        if self.book.is_fake(value):
            return value
        fake = self.book.fake(value)
        self._originals[value] = kind
        if len(value) >= SUBSTRING_MIN:
            self._substring_secrets[value] = fake
        else:
            self._whole_secrets.add(value)
        return fake

    def _person(self, value: str) -> str:
        if EMAIL_PATTERN.search(value) and not EMAIL_PATTERN.fullmatch(value):
            return self._text(value)  # "Jane <jane@…>": the address is found by pattern
        return self._secret(value, PERSON)

    def _identifier(self, value: str) -> str:
        if self.book.is_fake(value):
            return value
        self._originals.setdefault(value, IDENTIFIER)
        return self.book.fake(value)

    def _activation(self, value: str) -> str:
        if _LPA_RAW.search(value) or _LPA_ENCODED.search(value):
            return self._text(value)  # keeps the SM-DP+ host, fakes the code
        if value.startswith(("http://", "https://")):
            return self._url(value)
        if value.startswith("data:"):
            prefix = value.split(",", 1)[0]
            return f"{prefix},UkVEQUNURUQ="  # base64 of "REDACTED": a QR image encodes the code
        if self.book.is_fake(value):
            return value
        self._originals[value] = ACTIVATION
        return self.book.fake(value)

    def _url(self, value: str) -> str:
        """A link to a QR image: the host stays, path and query (which may carry the code) are faked."""
        parts = urlsplit(value)
        origin = f"{parts.scheme}://{parts.netloc}"
        rest = value[len(origin) :]
        if not rest:
            return value
        self._originals[rest] = ACTIVATION
        return origin + self.book.fake(rest)

    def _code(self, match: re.Match[str]) -> str:
        code = match.group(2)
        if self.book.is_fake(code):
            return match.group()
        self._originals[code] = ACTIVATION
        return match.group(1) + self.book.fake(code)

    def _text(self, text: str) -> str:
        if text in self._whole_secrets:
            return self.book.fake(text)
        for real, fake in self._substring_secrets.items():
            if real in text:
                text = text.replace(real, fake)
        text = _LPA_RAW.sub(self._code, text)
        text = _LPA_ENCODED.sub(self._code, text)
        text = _JWT.sub(lambda m: self._secret(m.group()), text)
        text = _BEARER.sub(lambda m: m.group(1) + self._secret(m.group(2)), text)
        text = EMAIL_PATTERN.sub(lambda m: self._secret(m.group(), PERSON), text)
        text = UUID_PATTERN.sub(lambda m: self._identifier(m.group()), text)
        text = ICCID_PATTERN.sub(lambda m: self._identifier(m.group()), text)
        return _LONG_DIGITS.sub(self._known_id, text)

    def _known_id(self, match: re.Match[str]) -> str:
        """A known order id inside a message ("order 4100100 not found"); other numbers stay."""
        value = match.group()
        return self.book.fake(value) if self._originals.get(value) == IDENTIFIER else value

    def _dict_key(self, key: object) -> str:
        """Object keys can be ids too (an answer keyed by order id or ICCID)."""
        text = str(key)
        return self.book.get(text) or self._text(text)
