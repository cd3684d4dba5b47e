"""What happens to a visitor's IP address: truncated, keyed-hashed or dropped, plus its country.

The country is looked up on the *full* address, before truncation (package ``iptocc``, offline,
from the regional registries' delegation files), and only the two-letter code is kept. Results
are cached per address: a visitor sends many requests, so most lines cost one dictionary lookup.
The cache is cleared when it grows past ``_CACHE_LIMIT`` entries, which keeps memory constant on
logs with millions of distinct addresses.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Literal

__all__ = ["HASH_PREFIX", "IpAnonymiser", "IpMode"]

IpMode = Literal["truncate", "hash", "drop", "keep"]
HASH_PREFIX = b"h-"
"""Hashed addresses are written ``h-`` + 16 hex digits: clearly not an address, stable per key."""
UNKNOWN_COUNTRY = b"--"
_CACHE_LIMIT = 50_000
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def _is_hash_token(host: bytes) -> bool:
    return (
        len(host) == len(HASH_PREFIX) + 16
        and host.startswith(HASH_PREFIX)
        and all(c in b"0123456789abcdef" for c in host[len(HASH_PREFIX) :])
    )


class IpAnonymiser:
    """Callable ``(host bytes) -> (anonymised host bytes, country code bytes)``.

    ``country`` is ``b"--"`` when unknown (private ranges, hostnames, hashed input) or when
    geolocation is off. A host that is not an IP address at all (``HostnameLookups On`` writes
    names) is replaced by ``-``: a reverse-DNS name often identifies a subscriber line.
    """

    def __init__(
        self,
        mode: IpMode = "truncate",
        *,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 48,
        hash_key: bytes | None = None,
        geolocate: bool = True,
        country_of: Callable[[str], str | None] | None = None,
    ) -> None:
        if mode == "hash" and not hash_key:
            from pledge.errors import ConfigError

            raise ConfigError("hashing IP addresses needs a hash key", hint="Settings.with_secrets().keys")
        self.mode = mode
        self.ipv4_prefix = ipv4_prefix
        self.ipv6_prefix = ipv6_prefix
        self.hash_key = hash_key or b""
        self.geolocate = geolocate
        if country_of is None and geolocate:
            import iptocc

            country_of = iptocc.country_code
        self._country_of = country_of
        self._cache: dict[bytes, tuple[bytes, bytes]] = {}
        self._v4_mask = (0xFFFFFFFF << (32 - ipv4_prefix)) & 0xFFFFFFFF
        self._v6_mask = ((1 << 128) - 1) ^ ((1 << (128 - ipv6_prefix)) - 1)

    def __call__(self, host: bytes) -> tuple[bytes, bytes]:
        cached = self._cache.get(host)
        if cached is not None:
            return cached
        result = self._compute(host)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[host] = result
        return result

    def _compute(self, host: bytes) -> tuple[bytes, bytes]:
        text = host.decode("latin-1")
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        # inet_pton is strict (no leading zeros, no octal, no trailing junk) and ~50x faster
        # than the ipaddress module; an address it refuses is not written anywhere.
        try:
            packed = inet_pton(AF_INET, text)
            family = AF_INET
        except OSError:
            try:
                packed = inet_pton(AF_INET6, text.split("%", 1)[0])  # drop an IPv6 zone id
                family = AF_INET6
            except OSError:
                if self.mode != "drop" and _is_hash_token(host):
                    return host, UNKNOWN_COUNTRY  # already anonymised (re-reading our own output)
                return b"-", UNKNOWN_COUNTRY
            if packed[:12] == _V4_MAPPED:  # ::ffff:203.0.113.9 is an IPv4 visitor
                packed = packed[12:]
                family = AF_INET
        country = UNKNOWN_COUNTRY
        if self.geolocate and self._country_of is not None:
            found = self._country_of(inet_ntop(family, packed))
            if found:
                country = found.encode("ascii", "replace")[:2]
        return self._anonymise(family, packed), country

    def _anonymise(self, family: int, packed: bytes) -> bytes:
        if self.mode == "keep":
            return inet_ntop(family, packed).encode("ascii")
        if self.mode == "drop":
            return b"-"
        if self.mode == "hash":
            digest = hmac.new(self.hash_key, packed, hashlib.sha256).hexdigest()[:16]
            return HASH_PREFIX + digest.encode("ascii")
        mask = self._v4_mask if family == AF_INET else self._v6_mask
        kept = (int.from_bytes(packed, "big") & mask).to_bytes(len(packed), "big")
        return inet_ntop(family, kept).encode("ascii")
