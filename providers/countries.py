"""Countries and regions as eSIM catalogues name them: ISO 3166-1 alpha-2 codes <-> English names.

Pure data and lookups, no Django. Names are compared after `normalise()` (case-folded, accents
stripped, punctuation to spaces), so "Türkiye", "turkiye" and "TURKEY" are one country, and
"Bosnia & Herzegovina" equals "Bosnia and Herzegovina".

Regions are APPROXIMATE: providers define their own regional bundles (eSIM Go's "Europe Lite" is not
the same list as another vendor's "Europe") and the catalogue's own country list always wins over this
table (see docs/matching.md). The table is only used when a bundle or a plan names a region and gives
no country list.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# ISO 3166-1 alpha-2 -> the English display name catalogues use ("Turkey", not "Türkiye").
# Source: the ISO 3166-1 list (Debian iso-codes), short names adjusted to common English usage.
# XK (Kosovo) is a user-assigned code, not ISO; eSIM catalogues use it, so it is listed.
# fmt: off
_NAMES: dict[str, str] = {
    "AD": "Andorra", "AE": "United Arab Emirates", "AF": "Afghanistan", "AG": "Antigua and Barbuda",
    "AI": "Anguilla", "AL": "Albania", "AM": "Armenia", "AO": "Angola", "AQ": "Antarctica",
    "AR": "Argentina", "AS": "American Samoa", "AT": "Austria", "AU": "Australia", "AW": "Aruba",
    "AX": "Åland Islands", "AZ": "Azerbaijan", "BA": "Bosnia and Herzegovina", "BB": "Barbados",
    "BD": "Bangladesh", "BE": "Belgium", "BF": "Burkina Faso", "BG": "Bulgaria", "BH": "Bahrain",
    "BI": "Burundi", "BJ": "Benin", "BL": "Saint Barthélemy", "BM": "Bermuda", "BN": "Brunei",
    "BO": "Bolivia", "BQ": "Bonaire, Sint Eustatius and Saba", "BR": "Brazil", "BS": "Bahamas",
    "BT": "Bhutan", "BV": "Bouvet Island", "BW": "Botswana", "BY": "Belarus", "BZ": "Belize",
    "CA": "Canada", "CC": "Cocos (Keeling) Islands", "CD": "Democratic Republic of the Congo",
    "CF": "Central African Republic", "CG": "Republic of the Congo", "CH": "Switzerland",
    "CI": "Côte d'Ivoire", "CK": "Cook Islands", "CL": "Chile", "CM": "Cameroon", "CN": "China",
    "CO": "Colombia", "CR": "Costa Rica", "CU": "Cuba", "CV": "Cabo Verde", "CW": "Curaçao",
    "CX": "Christmas Island", "CY": "Cyprus", "CZ": "Czech Republic", "DE": "Germany", "DJ": "Djibouti",
    "DK": "Denmark", "DM": "Dominica", "DO": "Dominican Republic", "DZ": "Algeria", "EC": "Ecuador",
    "EE": "Estonia", "EG": "Egypt", "EH": "Western Sahara", "ER": "Eritrea", "ES": "Spain",
    "ET": "Ethiopia", "FI": "Finland", "FJ": "Fiji", "FK": "Falkland Islands", "FM": "Micronesia",
    "FO": "Faroe Islands", "FR": "France", "GA": "Gabon", "GB": "United Kingdom", "GD": "Grenada",
    "GE": "Georgia", "GF": "French Guiana", "GG": "Guernsey", "GH": "Ghana", "GI": "Gibraltar",
    "GL": "Greenland", "GM": "Gambia", "GN": "Guinea", "GP": "Guadeloupe", "GQ": "Equatorial Guinea",
    "GR": "Greece", "GS": "South Georgia and the South Sandwich Islands", "GT": "Guatemala", "GU": "Guam",
    "GW": "Guinea-Bissau", "GY": "Guyana", "HK": "Hong Kong", "HM": "Heard Island and McDonald Islands",
    "HN": "Honduras", "HR": "Croatia", "HT": "Haiti", "HU": "Hungary", "ID": "Indonesia", "IE": "Ireland",
    "IL": "Israel", "IM": "Isle of Man", "IN": "India", "IO": "British Indian Ocean Territory",
    "IQ": "Iraq", "IR": "Iran", "IS": "Iceland", "IT": "Italy", "JE": "Jersey", "JM": "Jamaica",
    "JO": "Jordan", "JP": "Japan", "KE": "Kenya", "KG": "Kyrgyzstan", "KH": "Cambodia", "KI": "Kiribati",
    "KM": "Comoros", "KN": "Saint Kitts and Nevis", "KP": "North Korea", "KR": "South Korea",
    "KW": "Kuwait", "KY": "Cayman Islands", "KZ": "Kazakhstan", "LA": "Laos", "LB": "Lebanon",
    "LC": "Saint Lucia", "LI": "Liechtenstein", "LK": "Sri Lanka", "LR": "Liberia", "LS": "Lesotho",
    "LT": "Lithuania", "LU": "Luxembourg", "LV": "Latvia", "LY": "Libya", "MA": "Morocco", "MC": "Monaco",
    "MD": "Moldova", "ME": "Montenegro", "MF": "Saint Martin", "MG": "Madagascar", "MH": "Marshall Islands",
    "MK": "North Macedonia", "ML": "Mali", "MM": "Myanmar", "MN": "Mongolia", "MO": "Macao",
    "MP": "Northern Mariana Islands", "MQ": "Martinique", "MR": "Mauritania", "MS": "Montserrat",
    "MT": "Malta", "MU": "Mauritius", "MV": "Maldives", "MW": "Malawi", "MX": "Mexico", "MY": "Malaysia",
    "MZ": "Mozambique", "NA": "Namibia", "NC": "New Caledonia", "NE": "Niger", "NF": "Norfolk Island",
    "NG": "Nigeria", "NI": "Nicaragua", "NL": "Netherlands", "NO": "Norway", "NP": "Nepal", "NR": "Nauru",
    "NU": "Niue", "NZ": "New Zealand", "OM": "Oman", "PA": "Panama", "PE": "Peru", "PF": "French Polynesia",
    "PG": "Papua New Guinea", "PH": "Philippines", "PK": "Pakistan", "PL": "Poland",
    "PM": "Saint Pierre and Miquelon", "PN": "Pitcairn Islands", "PR": "Puerto Rico", "PS": "Palestine",
    "PT": "Portugal", "PW": "Palau", "PY": "Paraguay", "QA": "Qatar", "RE": "Réunion", "RO": "Romania",
    "RS": "Serbia", "RU": "Russia", "RW": "Rwanda", "SA": "Saudi Arabia", "SB": "Solomon Islands",
    "SC": "Seychelles", "SD": "Sudan", "SE": "Sweden", "SG": "Singapore", "SH": "Saint Helena",
    "SI": "Slovenia", "SJ": "Svalbard and Jan Mayen", "SK": "Slovakia", "SL": "Sierra Leone",
    "SM": "San Marino", "SN": "Senegal", "SO": "Somalia", "SR": "Suriname", "SS": "South Sudan",
    "ST": "Sao Tome and Principe", "SV": "El Salvador", "SX": "Sint Maarten", "SY": "Syria",
    "SZ": "Eswatini", "TC": "Turks and Caicos Islands", "TD": "Chad", "TF": "French Southern Territories",
    "TG": "Togo", "TH": "Thailand", "TJ": "Tajikistan", "TK": "Tokelau", "TL": "Timor-Leste",
    "TM": "Turkmenistan", "TN": "Tunisia", "TO": "Tonga", "TR": "Turkey", "TT": "Trinidad and Tobago",
    "TV": "Tuvalu", "TW": "Taiwan", "TZ": "Tanzania", "UA": "Ukraine", "UG": "Uganda",
    "UM": "United States Minor Outlying Islands", "US": "United States", "UY": "Uruguay",
    "UZ": "Uzbekistan", "VA": "Vatican City", "VC": "Saint Vincent and the Grenadines", "VE": "Venezuela",
    "VG": "British Virgin Islands", "VI": "U.S. Virgin Islands", "VN": "Vietnam", "VU": "Vanuatu",
    "WF": "Wallis and Futuna", "WS": "Samoa", "XK": "Kosovo", "YE": "Yemen", "YT": "Mayotte",
    "ZA": "South Africa", "ZM": "Zambia", "ZW": "Zimbabwe",
}
# fmt: on

# Other names seen in catalogues and plan names (ISO long forms, old names, everyday English).
# Matched case-insensitively as whole words. Short upper-case abbreviations are in _ABBREVIATIONS.
# fmt: off
_ALIASES: dict[str, str] = {
    "Türkiye": "TR", "Turkiye": "TR", "Republic of Türkiye": "TR",
    "Great Britain": "GB", "Britain": "GB", "England": "GB", "Scotland": "GB", "Wales": "GB",
    "Northern Ireland": "GB", "United Kingdom of Great Britain and Northern Ireland": "GB",
    "United States of America": "US",
    "Korea": "KR", "Korea, Republic of": "KR", "Republic of Korea": "KR",
    "Korea, Democratic People's Republic of": "KP", "Democratic People's Republic of Korea": "KP",
    "Czechia": "CZ", "Slovak Republic": "SK", "Kyrgyz Republic": "KG",
    "Emirates": "AE", "Holland": "NL", "The Netherlands": "NL", "Russian Federation": "RU",
    "Viet Nam": "VN", "Lao People's Democratic Republic": "LA", "Syrian Arab Republic": "SY",
    "Taiwan, Province of China": "TW", "Tanzania, United Republic of": "TZ",
    "Venezuela, Bolivarian Republic of": "VE", "Bolivia, Plurinational State of": "BO",
    "Iran, Islamic Republic of": "IR", "Moldova, Republic of": "MD", "Brunei Darussalam": "BN",
    "Micronesia, Federated States of": "FM", "Palestine, State of": "PS", "Palestinian Territories": "PS",
    "Holy See": "VA", "Vatican": "VA", "Holy See (Vatican City State)": "VA",
    "Congo, The Democratic Republic of the": "CD", "DR Congo": "CD", "Congo-Kinshasa": "CD",
    "Congo": "CG", "Congo-Brazzaville": "CG",
    "Ivory Coast": "CI", "Cote d'Ivoire": "CI", "Cape Verde": "CV", "Swaziland": "SZ",
    "Macedonia": "MK", "Burma": "MM", "East Timor": "TL", "Macau": "MO", "Hong Kong SAR": "HK",
    "Reunion": "RE", "Curacao": "CW", "Aland Islands": "AX", "Saint Barthelemy": "BL",
    "Falkland Islands (Malvinas)": "FK", "Virgin Islands, British": "VG", "Virgin Islands, U.S.": "VI",
    "US Virgin Islands": "VI", "Saint Martin (French part)": "MF", "Sint Maarten (Dutch part)": "SX",
    "Saint Helena, Ascension and Tristan da Cunha": "SH", "Pitcairn": "PN",
    "Bonaire": "BQ", "Caribbean Netherlands": "BQ", "Sao Tome": "ST", "Timor Leste": "TL",
    "Kosova": "XK", "Gambia, The": "GM", "The Gambia": "GM", "The Bahamas": "BS",
}
# fmt: on

# Upper-case abbreviations: matched case-sensitively ("US", never the word "us") and dots ignored.
_ABBREVIATIONS: dict[str, str] = {"US": "US", "USA": "US", "UK": "GB", "UAE": "AE", "KSA": "SA", "DRC": "CD"}


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Regions: canonical name -> ISO codes covered (APPROXIMATE, see the module docstring).
_EU27 = _codes("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE")
_EUROPE = _EU27 | _codes("GB CH NO IS LI TR AL BA ME MK RS XK UA MD AD MC SM VA GI FO IM JE GG AX BY")
_AFRICA = _codes(
    "DZ AO BJ BW BF BI CV CM CF TD KM CG CD CI DJ EG GQ ER SZ ET GA GM GH GN GW KE LS LR LY MG MW ML "
    "MR MU YT MA MZ NA NE NG RE RW SH ST SN SC SL SO ZA SS SD TZ TG TN UG EH ZM ZW"
)
_ASIA = _codes("CN HK MO TW JP KR SG MY TH ID PH VN KH LA MM IN PK BD LK NP BT MV MN KZ UZ KG TJ TM BN TL")
_MIDDLE_EAST = _codes("AE SA QA KW BH OM JO IL PS LB SY IQ IR YE")
_NORTH_AMERICA = _codes("US CA MX PR")
_LATIN_AMERICA = _codes("MX GT BZ SV HN NI CR PA CU DO PR CO VE EC PE BO BR PY UY AR CL GY SR GF")
_SOUTH_AMERICA = _codes("AR BO BR CL CO EC GY PY PE SR UY VE GF FK")
_CARIBBEAN = _codes("AI AG AW BS BB BQ VG KY CU CW DM DO GD GP HT JM MQ MS PR BL KN LC MF VC SX TT TC VI")
_OCEANIA = _codes("AU NZ FJ PG SB VU NC PF WS TO KI TV NR FM MH PW CK NU GU MP AS")

REGIONS: dict[str, frozenset[str]] = {
    "Europe": _EUROPE,
    "Europe+": _EUROPE,
    # eSIM Go's cheaper European bundle: the EU plus its closest neighbours (approximate).
    "Europe Lite": _EU27 | _codes("GB CH NO IS LI TR"),
    "Balkans": _codes("AL BA BG GR HR MK ME RO RS SI XK"),
    "Nordics": _codes("DK NO SE FI IS"),
    "Asia": _ASIA,
    "Asia Pacific": _ASIA | _OCEANIA,
    "Middle East": _MIDDLE_EAST,
    "Middle East & Africa": _MIDDLE_EAST | _AFRICA,
    "Africa": _AFRICA,
    "North America": _NORTH_AMERICA,
    "Latin America": _LATIN_AMERICA,
    "South America": _SOUTH_AMERICA,
    "Caribbean": _CARIBBEAN,
    "Americas": _NORTH_AMERICA | _LATIN_AMERICA | _CARIBBEAN,
    "Oceania": _OCEANIA,
}
# "Global" bundles differ per provider (often 100+ countries); approximated as every listed region.
REGIONS["Global"] = frozenset().union(*REGIONS.values())

_REGION_ALIASES: dict[str, str] = {
    "Europe Plus": "Europe+",
    "EU Plus": "Europe+",
    "European Union": "Europe",
    "Scandinavia": "Nordics",
    "Nordic": "Nordics",
    "APAC": "Asia Pacific",
    "Asia-Pacific": "Asia Pacific",
    "Middle East and Africa": "Middle East & Africa",
    "MENA": "Middle East & Africa",
    "Latam": "Latin America",
    "Central and South America": "Latin America",
    "World": "Global",
    "Worldwide": "Global",
}

# Region tokens inside eSIM Go style bundle codes (esim_UL_7D_RLA_V2). eSIM Go's region codes are
# not published as a list; these are the ones seen in public catalogues and in our sandbox (EUL).
BUNDLE_REGION_CODES: dict[str, str] = {
    "EU": "Europe",
    "EUL": "Europe Lite",
    "EUP": "Europe+",
    "REU": "Europe",
    "REUL": "Europe Lite",
    "REUP": "Europe+",
    "RBK": "Balkans",
    "RAF": "Africa",
    "RAS": "Asia",
    "RLA": "Latin America",
    "RNA": "North America",
    "RCA": "Caribbean",
    "RME": "Middle East",
    "RGB": "Global",
    "RGBS": "Global",
}


_DOTTED_ABBREVIATION = re.compile(r"(?<![A-Za-z])((?:[A-Za-z]\.){2,3})")


def _fold(text: str) -> str:
    """ASCII words separated by single spaces, case kept ("Türkiye, U.S.A." -> "Turkiye USA").

    "+" becomes " plus " and "&" becomes " and " first, so "Europe+" and "EU+" stay distinguishable
    from "Europe" and "Bosnia & Herzegovina" equals "Bosnia and Herzegovina"; dotted abbreviations
    ("U.S.A.", "U.K.") lose their dots.
    """
    text = text.replace("+", " plus ").replace("&", " and ")
    text = _DOTTED_ABBREVIATION.sub(lambda m: m.group(1).replace(".", ""), text)
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^A-Za-z0-9]+", " ", ascii_text).split())


def normalise(text: str) -> str:
    """`_fold` in lower case: the form names are compared in ("Türkiye, V2" -> "turkiye v2")."""
    return _fold(text).lower()


@cache
def _country_index() -> dict[str, str]:
    index = {normalise(name): code for code, name in _NAMES.items()}
    for code, name in _NAMES.items():
        if name.startswith("Saint "):
            index[normalise("St " + name.removeprefix("Saint "))] = code
    index.update({normalise(alias): code for alias, code in _ALIASES.items()})
    return index


@cache
def _region_index() -> dict[str, str]:
    index = {normalise(name): name for name in REGIONS}
    index.update({normalise(alias): name for alias, name in _REGION_ALIASES.items()})
    return index


@cache
def _place_pattern() -> re.Pattern[str]:
    # Longest first, so that at one position "europe lite" beats "europe" and "us virgin islands"
    # beats "US"; the scan is left to right, so "papua new guinea" is taken before "guinea" is tried.
    # Names match in any case; the abbreviations only in capitals (scoped (?-i:...) group).
    names = sorted({*_country_index(), *_region_index()}, key=len, reverse=True)
    abbreviations = sorted(_ABBREVIATIONS, key=len, reverse=True)
    return re.compile(
        r"(?<![A-Za-z0-9])(?:("
        + "|".join(re.escape(name) for name in names)
        + r")|(?-i:("
        + "|".join(abbreviations)
        + r")))(?![A-Za-z0-9])",
        re.IGNORECASE,
    )


def iso_for_name(text: str) -> str | None:
    """The ISO code of one country name, alias or code ("Turkey", "türkiye", "UK", "tr" -> ...)."""
    if not text or not text.strip():
        return None
    stripped = text.strip()
    upper = stripped.replace(".", "").upper()
    if upper in _ABBREVIATIONS:
        return _ABBREVIATIONS[upper]
    if len(upper) == 2 and upper in _NAMES:
        return upper
    return _country_index().get(normalise(stripped))


def name_for_iso(code: str) -> str | None:
    """The English display name of an ISO code ("TR" -> "Turkey"); None when unknown."""
    return _NAMES.get((code or "").strip().upper())


def is_iso_code(code: str) -> bool:
    return isinstance(code, str) and code.upper() == code and code in _NAMES


def region_name(text: str) -> str | None:
    """The canonical region for a region name or alias ("europe plus" -> "Europe+"); None otherwise."""
    if not text or not text.strip():
        return None
    return _region_index().get(normalise(text))


def countries_in_region(name: str) -> frozenset[str]:
    """ISO codes an (approximate) region covers; empty for an unknown region."""
    canonical = region_name(name) if name else None
    return REGIONS.get(canonical, frozenset()) if canonical else frozenset()


def find_places(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(ISO codes, region names) named anywhere in free text, in order of appearance, deduplicated.

    Whole words only: "Niger" is not found in "Nigeria", "Oman" not in "Romania". Two-letter ISO
    codes are NOT read from free text ("1 GB" is not Great Britain, "IN" not India): only the
    abbreviations US, USA, UK, UAE, KSA and DRC, written in capitals.
    """
    countries: list[str] = []
    regions: list[str] = []
    for match in _place_pattern().finditer(_fold(text or "")):
        name, abbreviation = match.group(1), match.group(2)
        if abbreviation:
            countries.append(_ABBREVIATIONS[abbreviation])
        elif (code := _country_index().get(name.lower())) is not None:
            countries.append(code)
        else:
            regions.append(_region_index()[name.lower()])
    return tuple(dict.fromkeys(countries)), tuple(dict.fromkeys(regions))
