"""ASGI middleware (Starlette, FastAPI, any ASGI app): keep non-essential cookies off responses
until the visitor consented to their category, and honour ``Sec-GPC: 1``.

    app.add_middleware(ConsentMiddleware, declaration=loaded, signing_key=settings.keys.signing_key)

The request's :class:`~pledge.middleware.gate.ConsentState` is in ``scope["state"]["pledge_consent"]``
(``request.state.pledge_consent`` in Starlette). Only ``http.response.start`` is touched: the body
streams through unchanged, so streaming and server-sent responses keep working.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration
from pledge.middleware.consent_cookie import DEFAULT_COOKIE_NAME
from pledge.middleware.gate import ConsentGate, DroppedCookie

__all__ = ["STATE_KEY", "ConsentMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_KEY = "pledge_consent"


class ConsentMiddleware:
    def __init__(
        self,
        app: ASGIApp,
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
        """Give either ``declaration`` (and the gate's options) or a ready ``gate`` to share one
        between several apps."""
        if gate is None:
            if declaration is None:
                raise TypeError("ConsentMiddleware needs a declaration or a gate")
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cookies: list[str] = []
        gpc: str | None = None
        for key, value in scope.get("headers", ()):
            name = key.lower()
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))  # HTTP/2 may split cookies over headers
            elif name == b"sec-gpc" and gpc is None:
                gpc = value.decode("latin-1")
        state = self.gate.consent("; ".join(cookies), gpc)
        scope.setdefault("state", {})[STATE_KEY] = state
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate = self.gate

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                kept = [
                    (key, value)
                    for key, value in headers
                    if key.lower() != b"set-cookie" or gate.allow_set_cookie(value.decode("latin-1"), state)
                ]
                if len(kept) != len(headers):
                    message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, receive, guarded_send)
