"""One-click unsubscribe (RFC 8058): a signed, expiring, single-use token per (subject, purpose,
channel); redeeming it withdraws exactly that purpose on exactly that channel, nothing else.

The token and the withdrawal are one transaction: a token is used up only if the withdrawal is
recorded, and a withdrawal by link is recorded only once.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from pledge.consent.events import ConsentEvent, EventKind
from pledge.consent.ledger import ConsentLedger
from pledge.errors import ConfigError, InputError, NotFound, TokenInvalid
from pledge.tokens import TokenService

__all__ = ["UNSUBSCRIBE_USE", "Unsubscribe", "redeem_unsubscribe"]

UNSUBSCRIBE_USE = "unsubscribe"
DEFAULT_TTL = dt.timedelta(days=365)
"""Long: people unsubscribe from old mail too (CAN-SPAM wants at least 30 days after sending)."""


class Unsubscribe:
    def __init__(
        self,
        ledger: ConsentLedger,
        tokens: TokenService,
        base_url: str,
        *,
        mailto: str | None = None,
        ttl: dt.timedelta = DEFAULT_TTL,
        path: str = "/u/",
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError(f"base URL must be http(s), got {base_url[:60]!r}")
        if mailto is not None and (mailto.count("@") != 1 or any(c in mailto for c in "<>,?\r\n ")):
            raise ConfigError("the unsubscribe mailbox must be a plain e-mail address")
        self.ledger = ledger
        self.tokens = tokens
        self._base = base_url.rstrip("/") + "/" + path.strip("/") + "/"
        self._mailto = mailto
        self._ttl = ttl

    def token(self, subject_id: str, purpose: str, channel: str = "email") -> str:
        """A token withdrawing ``purpose`` over ``channel`` for ``subject_id``."""
        rule = self.ledger.policy.purposes.get(purpose)
        if rule is None:
            raise InputError(f"unknown purpose '{purpose}'")
        if channel not in rule.channels:
            raise InputError(f"purpose '{purpose}' does not send by '{channel}'")
        if not rule.consent_choice:
            raise InputError(
                f"purpose '{purpose}' offers no choice to withdraw from",
                hint="unsubscribe links are for mail a person may refuse",
            )
        if not self.ledger.directory.exists(subject_id):
            raise NotFound("no such subject")
        claims = {"s": subject_id, "p": purpose, "c": channel}
        return self.tokens.issue(UNSUBSCRIBE_USE, claims, self._ttl)

    def url(self, token: str) -> str:
        return self._base + token

    def headers(self, subject_id: str, purpose: str, channel: str = "email") -> dict[str, str]:
        """``List-Unsubscribe`` (and, over HTTPS, ``List-Unsubscribe-Post``) for one message."""
        token = self.token(subject_id, purpose, channel)
        targets = [f"<{self.url(token)}>"]
        if self._mailto:
            targets.append(f"<mailto:{self._mailto}?subject={quote('unsubscribe ' + token)}>")
        headers = {"List-Unsubscribe": ", ".join(targets)}
        # RFC 8058 § 3.1: one-click needs an HTTPS URI; without one, mail clients must not offer it.
        if self._base.startswith("https://"):
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers

    def redeem(self, token: str, *, proof: str | None = None) -> ConsentEvent:
        """Withdraw what ``token`` names. Raises ``TokenInvalid``/``TokenExpired``/``TokenReplayed``."""
        self.tokens.inspect(token, UNSUBSCRIBE_USE)  # reject bad tokens before opening a transaction
        with self.ledger.db.begin() as conn:
            claims = self.tokens.redeem(token, UNSUBSCRIBE_USE, conn=conn)
            if not {"s", "p", "c"} <= claims.keys():
                raise TokenInvalid("not an unsubscribe token")
            return self.ledger.record(
                claims["s"],
                EventKind.WITHDRAW,
                purpose=claims["p"],
                channel=claims["c"],
                source="email_link",
                proof=proof or f"one-click unsubscribe link: {claims['p']} by {claims['c']}",
                conn=conn,
            )


def redeem_unsubscribe(unsubscribe: Unsubscribe, token: str) -> ConsentEvent:
    """Module-level spelling of :meth:`Unsubscribe.redeem` for adapters."""
    return unsubscribe.redeem(token)
