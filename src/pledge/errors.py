"""The one exception tree of the domain.

Adapters map it to the outside world in exactly one place each: the CLI in ``pledge.cli._output``
(exit codes and ``file:line:column`` messages), the HTTP API in ``pledge.web.errors`` (status and a
stable error code). Core code raises these and never an HTTP or CLI exception.

    PledgeError                       code                 CLI exit  HTTP
    ├── InputError                    bad_input            2         422
    │   ├── DeclarationError          invalid_declaration  2         422
    │   ├── DatamapError              invalid_datamap      2         422
    │   └── ConfigError               bad_config           2         422
    ├── NotFound                      not_found            2         404
    ├── Conflict                      conflict             1         409
    ├── PermissionDenied              forbidden            2         403
    ├── TokenError                    bad_token            2         400
    │   ├── TokenInvalid              token_invalid        2         400
    │   ├── TokenExpired              token_expired        2         400
    │   └── TokenReplayed             token_replayed       2         409
    ├── RateLimited                   rate_limited         2         429
    ├── ConnectorError                connector_failed     1         502
    └── StorageError                  storage_failed       1         503

Every ``InputError`` carries ``problems``: one :class:`Problem` per thing wrong, each with a
location when the input came from a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ConfigError",
    "Conflict",
    "ConnectorError",
    "DatamapError",
    "DeclarationError",
    "InputError",
    "NotFound",
    "PermissionDenied",
    "PledgeError",
    "Problem",
    "RateLimited",
    "StorageError",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenReplayed",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, located where possible (lines and columns are 1-based)."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    code: str = "invalid"
    severity: str = "error"  # "error" fails validation; "warning" is reported only

    def where(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            parts.append(str(self.column or 1))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.where()}: {self.severity}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class PledgeError(Exception):
    """Base of every error Pledge raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(PledgeError):
    """The caller's input is wrong; nothing was changed."""

    code = "bad_input"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: Iterable[Problem] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems: Sequence[Problem] = tuple(problems) or (Problem(message, hint=hint, code=self.code),)


class DeclarationError(InputError):
    code = "invalid_declaration"


class DatamapError(InputError):
    code = "invalid_datamap"


class ConfigError(InputError):
    code = "bad_config"


class NotFound(PledgeError):
    code = "not_found"


class Conflict(PledgeError):
    """The operation does not fit the current state (e.g. approving a completed request)."""

    code = "conflict"


class PermissionDenied(PledgeError):
    code = "forbidden"


class TokenError(PledgeError):
    code = "bad_token"


class TokenInvalid(TokenError):
    """Forged, tampered, malformed, or meant for another use."""

    code = "token_invalid"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenReplayed(TokenError):
    code = "token_replayed"


class RateLimited(PledgeError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float = 60.0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ConnectorError(PledgeError):
    """A business database could not be reached or refused an operation."""

    code = "connector_failed"


class StorageError(PledgeError):
    """Pledge's own store failed (not the caller's fault)."""

    code = "storage_failed"


@dataclass(slots=True)
class ProblemList:
    """Collects problems while a stage runs, so one run reports everything wrong at once."""

    items: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.items.append(problem)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    def __bool__(self) -> bool:
        return bool(self.items)
