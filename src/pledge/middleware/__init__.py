"""Consent middleware: keep non-essential cookies off responses until the visitor agreed.

- :class:`ConsentMiddleware` (``asgi.py``) for Starlette/FastAPI and any ASGI app;
  :class:`ConsentWSGIMiddleware` (``wsgi.py``) for Flask, Django and any WSGI app.
- Both drop each ``Set-Cookie`` whose cookie is declared in a category the visitor has not
  consented to (names matched exactly or by declared patterns such as ``_ga_*``); undeclared
  cookies are dropped, or let through and logged (``undeclared="log"``); deleting a cookie is
  always allowed; ``Sec-GPC: 1`` opts out of advertising and of cookies set by recipients whose
  receiving data is a sale.
- **Trust.** The consent cookie is written by the banner in the browser, so anything on the page
  could write it. Refusals are honoured from any well-formed cookie; *grants* only from a cookie
  the server signed when it recorded the choice (``sign_consent_cookie`` with a key derived from
  ``Settings.keys.signing_key``), unless the operator passes ``trust_unsigned=True``.
- The consent state is exposed to the app: ``scope["state"]["pledge_consent"]`` (ASGI) and
  ``environ["pledge.consent"]`` (WSGI), a :class:`ConsentState` with ``allows(category)``.
"""

from pledge.middleware.asgi import ConsentMiddleware
from pledge.middleware.consent_cookie import (
    DEFAULT_COOKIE_NAME,
    ConsentCookie,
    consent_set_cookie_header,
    format_consent_cookie,
    parse_consent_cookie,
    sign_consent_cookie,
    version_token,
)
from pledge.middleware.gate import ConsentGate, ConsentState, DroppedCookie
from pledge.middleware.rules import CookieRule, CookieRules
from pledge.middleware.wsgi import ConsentWSGIMiddleware

__all__ = [
    "DEFAULT_COOKIE_NAME",
    "ConsentCookie",
    "ConsentGate",
    "ConsentMiddleware",
    "ConsentState",
    "ConsentWSGIMiddleware",
    "CookieRule",
    "CookieRules",
    "DroppedCookie",
    "consent_set_cookie_header",
    "format_consent_cookie",
    "parse_consent_cookie",
    "sign_consent_cookie",
    "version_token",
]
