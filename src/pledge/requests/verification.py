"""Verification links: signed, single-use, expiring tokens carried by e-mail.

The token names only the request (``{"rid": ...}``), never the person. It is redeemed in the same
transaction that marks the request verified, so a link works exactly once even when clicked twice
at the same moment, and a click that fails to verify leaves the token unspent. Result links are
signed and expiring but reusable: the person may open their answer more than once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from sqlalchemy.engine import Connection

from pledge.errors import TokenInvalid

__all__ = ["RESULT_USE", "VERIFY_USE", "Links", "TokenIssuer", "request_id_from_claims"]

VERIFY_USE = "request.verify"
RESULT_USE = "request.result"


class TokenIssuer(Protocol):
    """What the workflow needs of ``pledge.tokens.TokenService``."""

    def issue(self, use: str, claims: Mapping[str, Any], ttl: dt.timedelta) -> str: ...

    def verify(self, token: str, use: str) -> Mapping[str, Any]: ...

    def redeem(self, token: str, use: str, conn: Connection | None = None) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Links:
    """Where the privacy center answers verification and result links (the web layer's routes)."""

    base_url: str
    verify_path: str = "/privacy/requests/verify"
    result_path: str = "/privacy/requests/result"

    def verify(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}{self.verify_path}?token={quote(token, safe='')}"

    def result(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}{self.result_path}?token={quote(token, safe='')}"


def request_id_from_claims(claims: Mapping[str, Any]) -> str:
    rid = claims.get("rid")
    if not isinstance(rid, str) or not rid.isalnum() or len(rid) > 32:
        raise TokenInvalid("this link is not valid")
    return rid
