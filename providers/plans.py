"""Plan names and bundle codes turned into facts: data, duration, countries, region, variant.

Pure Python, no Django. Every provider names its plans differently (providers.md §2, §3.2, §4.3):

- TravelRoam / eSIM Go descriptions: "eSIM, 1GB, 7 Days, Turkey, V2", codes `esim_1GB_7D_TR_V2`;
- eSIMCard package names: "eSIM, 5GB, 30 Days, France, Unthrottled" (package ids are UUIDs);
- AirHub plan names: "Turkey 1GB 7 Days", "Spain 3GB 15 Days".

Numbers are read as whole tokens, never as substrings, so "1GB" is never "11GB" and "7D" never "17D"
(the original matcher's bug, providers.md §6.1). Data is in DECIMAL bytes (1 GB = 10**9, 500 MB =
5 * 10**8), like every other quantity in `providers.base`. An empty name parses to an empty spec,
which matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol

from providers.countries import BUNDLE_REGION_CODES, countries_in_region, find_places, is_iso_code
from providers.units import GB, KB, MB, TB

UNTHROTTLED = "Unthrottled"
_CODE_UNTHROTTLED = "U"  # eSIM Go's code suffix for the unthrottled variant (esim_1GB_7D_TR_U)
_UNITS = {"KB": KB, "MB": MB, "GB": GB, "TB": TB}
# Calendar units are approximated in days: a "1 Month" plan is sold as 30 days, a year as 365.
_DAY_UNITS = {"d": 1, "day": 1, "days": 1, "w": 7, "wk": 7, "wks": 7, "week": 7, "weeks": 7}
_DAY_UNITS |= {"mo": 30, "mos": 30, "month": 30, "months": 30, "yr": 365, "yrs": 365}
_DAY_UNITS |= {"year": 365, "years": 365}
# eSIM Go unlimited tiers in codes (esim_ULP_7D_IT_V2 = "Unlimited Plus").
_CODE_TIERS = {"UL": "Lite", "ULE": "Essential", "ULP": "Plus"}
_TEXT_TIERS = ("plus", "lite", "essential", "max", "premium")

# A number not glued to a preceding word or to another number ("11GB" is read whole, "V2" is no 2).
_NUMBER_START = r"(?<![A-Za-z0-9])(?<![0-9][.,])"
_DATA = re.compile(_NUMBER_START + r"(\d+(?:[.,]\d+)?)\s?(KB|MB|GB|TB)(?![A-Za-z])", re.IGNORECASE)
_DAYS = re.compile(
    _NUMBER_START + r"(\d+)[\s-]?(" + "|".join(sorted(_DAY_UNITS, key=len, reverse=True)) + r")(?![A-Za-z])",
    re.IGNORECASE,
)
_UNLIMITED = re.compile(r"(?<![A-Za-z])unlimited(?:\s+(" + "|".join(_TEXT_TIERS) + r"))?(?![A-Za-z])", re.I)
_VERSION = re.compile(r"(?<![A-Za-z0-9])V(\d{1,2})(?![A-Za-z0-9])", re.IGNORECASE)
_UNTHROTTLED = re.compile(r"(?<![A-Za-z])unthrottled(?![A-Za-z])", re.IGNORECASE)
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CODE_DATA = re.compile(r"(\d+(?:\.\d+)?)(KB|MB|GB|TB)", re.IGNORECASE)
_CODE_DAYS = re.compile(r"(\d+)D")  # upper-case only: lower-case d is hex inside ids
_CODE_VERSION = re.compile(r"V\d{1,2}")


@dataclass(frozen=True)
class PlanSpec:
    """What a plan name or bundle code says. None / empty means "the text does not say".

    `variant` is "V2" (any eSIM Go version tag) or "Unthrottled" (eSIM Go's `_U` codes); `tier` is
    the unlimited tier ("Plus", "Lite", "Essential") when the text names one.
    """

    data_bytes: int | None = None
    unlimited: bool = False
    days: int | None = None
    countries: tuple[str, ...] = ()
    region: str | None = None
    variant: str | None = None
    raw: str = ""
    tier: str | None = None

    @property
    def empty(self) -> bool:
        """True when nothing usable was read (an empty, blank or opaque name)."""
        return (
            self.data_bytes is None
            and not self.unlimited
            and self.days is None
            and not self.countries
            and self.region is None
        )

    def describe(self) -> str:
        """ "1 GB, 7 days, TR, V2" style summary; "nothing recognised" for an empty spec."""
        parts = [
            describe_data(self.data_bytes, self.unlimited, self.tier),
            describe_days(self.days),
            ", ".join(self.countries) or None,
            f"region {self.region}" if self.region else None,
            self.variant,
        ]
        known = [part for part in parts if part and part != "unknown"]
        return ", ".join(known) if known else "nothing recognised"


class BundleLike(Protocol):
    """A catalogue bundle: `providers.base.CatalogBundle` or a `pulse.models.Bundle` row.

    `active` is optional and read with getattr(..., True): a CatalogBundle is listed, hence sellable.
    """

    provider: str
    code: str
    description: str
    countries: Sequence[str]
    region: str | None
    data_bytes: int | None
    unlimited: bool
    duration_days: int | None


@dataclass(frozen=True)
class BundleFacts:
    """What a catalogue bundle offers, from its fields, description and code (see `bundle_facts`)."""

    data_bytes: int | None
    unlimited: bool
    days: int | None
    countries: frozenset[str]
    variant: str | None
    tier: str | None
    region: str | None

    @property
    def comparable(self) -> bool:
        return (self.unlimited or self.data_bytes is not None) and self.days is not None


def bundle_facts(bundle: BundleLike) -> BundleFacts:
    """A bundle's facts: its structured catalogue fields first, then its description, then its code.

    An empty description contributes nothing (the original matched every plan to it). A bundle's own
    country list is authoritative; its region only counts when it lists no country (TravelRoam sets
    `region` to the first country's continent even on single-country bundles).
    """
    description = (bundle.description or "").strip()
    by_text = parse_plan_name(description) if description else PlanSpec()
    by_code = parse_bundle_code(bundle.code or "")
    structured_data = bundle.data_bytes if bundle.data_bytes else None
    unlimited = bool(bundle.unlimited) or (
        structured_data is None and (by_text.unlimited or by_code.unlimited)
    )
    data = None if unlimited else structured_data or by_text.data_bytes or by_code.data_bytes
    days = bundle.duration_days or by_text.days or by_code.days
    listed = frozenset(str(code).strip().upper() for code in (bundle.countries or ()) if code)
    named_region = by_text.region or by_code.region
    countries = listed or frozenset(by_text.countries or by_code.countries)
    if not countries:
        named_region = named_region or (bundle.region or None)
        countries = countries_in_region(named_region or "")
    return BundleFacts(
        data_bytes=data,
        unlimited=unlimited,
        days=days,
        countries=countries,
        variant=by_text.variant or by_code.variant,
        tier=by_text.tier or by_code.tier,
        region=named_region if len(countries) > 1 else None,
    )


def describe_data(data_bytes: int | None, unlimited: bool = False, tier: str | None = None) -> str:
    """ "1 GB", "500 MB", "1.5 GB", "unlimited (Plus)"; "unknown" when not known."""
    if unlimited:
        return f"unlimited ({tier})" if tier else "unlimited"
    if data_bytes is None:
        return "unknown"
    unit, size = ("GB", GB) if data_bytes >= GB else ("MB", MB)
    amount = (Decimal(data_bytes) / size).quantize(Decimal("0.01")).normalize()
    return f"{amount:f} {unit}"


def describe_days(days: int | None) -> str:
    if days is None:
        return "unknown"
    return "1 day" if days == 1 else f"{days} days"


# Catalogues are re-matched on every renewal quote; specs are immutable, so parses are memoised.
@lru_cache(maxsize=16384)
def parse_plan_name(text: str | None) -> PlanSpec:
    """Facts from a plan name, a catalogue description or a bundle code.

    A single token with underscores (or dashes and digits) is read as a bundle code first, then as
    text for whatever the code did not say. UUIDs (eSIMCard package ids) say nothing.
    """
    raw = text if isinstance(text, str) else ""
    stripped = raw.strip()
    if not stripped or _UUID.fullmatch(stripped):
        return PlanSpec(raw=raw)
    if _looks_like_code(stripped):
        coded = parse_bundle_code(stripped)
        return _fill_missing(coded, _parse_text(re.sub(r"[_-]+", " ", stripped), raw), raw)
    return _parse_text(stripped, raw)


@lru_cache(maxsize=16384)
def parse_bundle_code(code: str | None) -> PlanSpec:
    """Facts from an eSIM Go style code: `esim_1GB_7D_TR_V2`, `esim_ULP_7D_IT_V2`, `esim_1GB_7D_TR_U`.

    Tokens are split on `_` and `-` and read whole: an ISO country is a standalone upper-case
    2-letter token (`TR`, `GB`), a region one of `BUNDLE_REGION_CODES` (`EUL`, `RLA`). Anything
    else (`esim`, `esimp`, `AH`) is ignored.
    """
    raw = code if isinstance(code, str) else ""
    if not raw.strip() or _UUID.fullmatch(raw.strip()):
        return PlanSpec(raw=raw)
    sizes: list[int] = []
    durations: list[int] = []
    countries: list[str] = []
    regions: list[str] = []
    variant = tier = None
    unlimited = False
    for token in (t for t in re.split(r"[_\-\s]+", raw.strip()) if t):
        if match := _CODE_DATA.fullmatch(token):
            sizes.append(_bytes(match.group(1), match.group(2)))
        elif match := _CODE_DAYS.fullmatch(token):
            durations.append(int(match.group(1)))
        elif token in _CODE_TIERS:
            unlimited, tier = True, _CODE_TIERS[token]
        elif _CODE_VERSION.fullmatch(token):
            variant = token.upper()
        elif token == _CODE_UNTHROTTLED:
            variant = UNTHROTTLED
        elif token in BUNDLE_REGION_CODES:
            regions.append(BUNDLE_REGION_CODES[token])
        elif len(token) == 2 and is_iso_code(token):
            countries.append(token)
    return PlanSpec(
        data_bytes=None if unlimited else _single(sizes),
        unlimited=unlimited,
        days=_single(durations),
        countries=tuple(dict.fromkeys(countries)),
        region=regions[0] if regions else None,
        variant=variant,
        raw=raw,
        tier=tier,
    )


def _looks_like_code(text: str) -> bool:
    if any(ch.isspace() for ch in text):
        return False
    return "_" in text or ("-" in text and any(ch.isdigit() for ch in text))


def _parse_text(text: str, raw: str) -> PlanSpec:
    unlimited_match = _UNLIMITED.search(text)
    sizes = [_bytes(m.group(1), m.group(2)) for m in _DATA.finditer(text)]
    durations = [int(m.group(1)) * _DAY_UNITS[m.group(2).lower()] for m in _DAYS.finditer(text)]
    countries, regions = find_places(text)
    tier = unlimited_match.group(1) if unlimited_match else None
    return PlanSpec(
        # "Unlimited (2GB/day)": the daily high-speed allowance is not the plan's data amount.
        data_bytes=None if unlimited_match else _single(sizes),
        unlimited=unlimited_match is not None,
        days=_single(durations),
        countries=countries,
        region=regions[0] if regions else None,
        variant=_text_variant(text),
        raw=raw,
        tier=tier.title() if tier else None,
    )


def _text_variant(text: str) -> str | None:
    if _UNTHROTTLED.search(text):
        return UNTHROTTLED
    match = _VERSION.search(text)
    return f"V{match.group(1)}" if match else None


def _fill_missing(primary: PlanSpec, fallback: PlanSpec, raw: str) -> PlanSpec:
    unlimited = primary.unlimited or (primary.data_bytes is None and fallback.unlimited)
    return PlanSpec(
        data_bytes=None if unlimited else primary.data_bytes or fallback.data_bytes,
        unlimited=unlimited,
        days=primary.days if primary.days is not None else fallback.days,
        countries=primary.countries or fallback.countries,
        region=primary.region or fallback.region,
        variant=primary.variant or fallback.variant,
        raw=raw,
        tier=primary.tier or (fallback.tier if unlimited else None),
    )


def _bytes(number: str, unit: str) -> int:
    # "1,5GB" is 1.5 GB (decimal comma); "1,500MB" is 1500 MB (thousands separator).
    text = number.replace(",", "") if _THOUSANDS.fullmatch(number) else number.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regexes only let digits through
        return 0
    return int((value * _UNITS[unit.upper()]).to_integral_value())


def _single(values: list[int]) -> int | None:
    """The one value named, or None when none or several DIFFERENT ones are (ambiguous)."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None
