"""WSGI middleware (Flask, Django, any WSGI app): keep non-essential cookies off responses until
the visitor consented to their category, and honour ``Sec-GPC: 1``.

    app.wsgi_app = ConsentWSGIMiddleware(app.wsgi_app, loaded, signing_key=key)   # Flask
    application = ConsentWSGIMiddleware(get_wsgi_application(), loaded, signing_key=key)  # Django

The request's :class:`~pledge.middleware.gate.ConsentState` is in ``environ["pledge.consent"]``.
Only the headers given to ``start_response`` are filtered; the body iterable is returned as is
(streaming works, and its ``close()`` is still called by the server).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration
from pledge.middleware.consent_cookie import DEFAULT_COOKIE_NAME
from pledge.middleware.gate import ConsentGate, DroppedCookie

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ENVIRON_KEY", "ConsentWSGIMiddleware"]

ENVIRON_KEY = "pledge.consent"


class ConsentWSGIMiddleware:
    def __init__(
        self,
        app: WSGIApplication,
        declaration: LoadedDeclaration | Declaration | None = None,
        *,
        gate: ConsentGate | None = None,
        signing_key: bytes | None = None,
        trust_unsigned: bool = False,
        cookie_name: str = DEFAULT_COOKIE_NAME,
        material_version: str | None = None,
        undeclared: Literal["drop", "log"] = "drop",
        on_drop: Callable[[DroppedCookie], None] | None = None,
    ) -> None:
        if gate is None:
            if declaration is None:
                raise TypeError("ConsentWSGIMiddleware needs a declaration or a gate")
            gate = ConsentGate(
                declaration,
                signing_key=signing_key,
                trust_unsigned=trust_unsigned,
                cookie_name=cookie_name,
                material_version=material_version,
                undeclared=undeclared,
                on_drop=on_drop,
            )
        self.app = app
        self.gate = gate

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        gate = self.gate
        state = gate.consent(environ.get("HTTP_COOKIE"), environ.get("HTTP_SEC_GPC"))
        environ[ENVIRON_KEY] = state

        def guarded_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            kept = [
                (key, value)
                for key, value in headers
                if key.lower() != "set-cookie" or gate.allow_set_cookie(value, state)
            ]
            if exc_info is None:
                return start_response(status, kept)
            return start_response(status, kept, exc_info)

        return self.app(environ, guarded_start_response)
