"""Sign-in links for the privacy center: proving control of an e-mail address without an account.

A person who wants to manage their preferences gives their address; a signed, single-use link
valid for an hour is mailed to it. The link carries the address *sealed* (nobody reading the URL
in a log learns it); redeeming it resolves the consent subject behind the address and opens a
session. The same mail goes out whether or not the address is known (nothing is looked up before
the click), so the form says nothing about who is a customer.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pledge.errors import TokenInvalid
from pledge.requests.mail import build_message, valid_address
from pledge.web.sealbox import SealBox

if TYPE_CHECKING:
    from pledge.system import Pledge

__all__ = ["SIGNIN_PATH", "SIGNIN_USE", "SigninLinks"]

SIGNIN_USE = "privacy.signin"
SIGNIN_PATH = "/privacy/signin/confirm"
_TTL = dt.timedelta(hours=1)


class SigninLinks:
    def __init__(self, system: Pledge) -> None:
        self.system = system
        self._box = SealBox(system.keys.master_key, "signin")

    def send(self, email: str) -> None:
        """Mail a sign-in link to ``email`` (validated; ``InputError`` when it is not an address)."""
        address = valid_address(email).lower()
        sealed = self._box.seal(SIGNIN_USE, {"e": address})
        token = self.system.tokens.issue(SIGNIN_USE, {"e": sealed}, _TTL)
        link = f"{self.system.settings.base_url.rstrip('/')}{SIGNIN_PATH}?token={token}"
        org = self.system.loaded.declaration.organisation.name
        body = (
            "Hello,\n\nsomeone (we hope you) asked to manage the privacy preferences of this address "
            f"with {org}.\n\nOpen this link to continue:\n\n    {link}\n\n"
            "The link works once and expires in an hour. If you did not ask for it, ignore this "
            f"message: nothing will change.\n\n-- \n{org}\n"
        )
        message = build_message(
            self.system.settings.smtp.sender, address, f"Your privacy preferences at {org}", body
        )
        self.system.services.mailer.send(message)

    def check(self, token: str) -> None:
        """Raise a ``TokenError`` when the link is forged, altered or expired (not spent here)."""
        self._address(self.system.tokens.verify(token, SIGNIN_USE))

    def redeem(self, token: str) -> str:
        """Spend the link and return the consent subject behind its address (created if new)."""
        claims = self.system.tokens.redeem(token, SIGNIN_USE)
        return self.system.resolve_subject("email", self._address(claims))

    def _address(self, claims: dict[str, str]) -> str:
        opened = self._box.open(SIGNIN_USE, claims.get("e"))
        address = opened.get("e") if opened else None
        if not isinstance(address, str):
            raise TokenInvalid("this link is not valid")
        return address
