"""Public key lists for differentially private tables whose keys need not come from the data.

Releasing which keys *occur* (a rare browser, a country seen once) can itself reveal a person, so
a DP table either uses a list fixed in advance (noise is added to every key on it, observed or
not, and anything off the list counts as ``(other)``) or selects keys with a thresholded
mechanism that costs a delta. These lists are the fixed ones; they are part of the code, not
derived from any log.
"""

from __future__ import annotations

from pledge.logs.useragent import DEVICE_CLASSES

__all__ = ["fold", "public_keys"]

# ISO 3166-1 alpha-2, officially assigned codes.
COUNTRIES = (
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
    "unknown",
)  # fmt: skip
BROWSERS = (
    "Chrome", "Chrome Mobile", "Chrome Mobile iOS", "Chrome Mobile WebView", "Mobile Safari",
    "Mobile Safari UI/WKWebView", "Safari", "Edge", "Edge Mobile", "Firefox", "Firefox Mobile",
    "Firefox iOS", "Samsung Internet", "Opera", "Opera Mobile", "Yandex Browser", "UC Browser",
    "Facebook", "Instagram", "Brave", "Vivaldi", "DuckDuckGo Mobile", "HeadlessChrome",
    "Googlebot", "bingbot", "Other",
)  # fmt: skip
OS_FAMILIES = (
    "Windows", "Mac OS X", "iOS", "iPadOS", "Android", "Linux", "Ubuntu", "Chrome OS", "Fedora",
    "Tizen", "KaiOS", "HarmonyOS", "Other",
)  # fmt: skip
_STATUS = (
    100, 101, 103, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404,
    405, 406, 408, 409, 410, 411, 413, 414, 415, 416, 418, 421, 422, 425, 426, 428, 429, 431,
    444, 451, 494, 495, 496, 497, 499, 500, 501, 502, 503, 504, 505, 507, 508, 511,
)  # fmt: skip
STATUS_CODES = (*(str(code) for code in _STATUS), "other")
TRAFFIC = ("human", "bot")

_LISTS: dict[str, tuple[str, ...]] = {
    "countries": COUNTRIES,
    "browsers": BROWSERS,
    "os": OS_FAMILIES,
    "status": STATUS_CODES,
    "devices": DEVICE_CLASSES,
    "traffic": TRAFFIC,
}
_FALLBACK = {
    "countries": "unknown",
    "browsers": "Other",
    "os": "Other",
    "status": "other",
    "devices": "other",
}


def public_keys(domain: str) -> tuple[str, ...]:
    return _LISTS[domain]


def fold(domain: str, key: str) -> str:
    """``key`` if it is on the public list of ``domain``, else that list's catch-all key."""
    keys = _LISTS[domain]
    if key in keys:
        return key
    return _FALLBACK.get(domain, keys[-1])
