"""The declaration's server-log and statistics rules as plain, immutable settings for this package.

``LogRules`` mirrors ``server_logs:`` and ``StatsRules`` mirrors ``statistics:`` of
``privacy.yaml``; both have the declaration's own defaults, so the library can be used without a
declaration (tests, one-off runs) and behaves exactly as a declaration that states only defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pledge.declaration.durations import IsoDuration
    from pledge.declaration.model import Declaration

__all__ = ["LogRules", "StatsRules", "rules_from_declaration"]


@dataclass(frozen=True, slots=True)
class LogRules:
    ip: Literal["truncate", "hash", "drop", "keep"] = "truncate"
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    geolocation: Literal["none", "country"] = "country"
    user_agent: Literal["parse", "keep", "drop"] = "parse"
    referrer: Literal["host", "path", "drop"] = "host"
    isp: bool = False
    """Declared but not derivable offline; ingest reports it as not recorded."""


@dataclass(frozen=True, slots=True)
class StatsRules:
    mode: Literal["suppress", "differential_privacy", "both"] = "suppress"
    min_group_size: int = 10
    mechanism: Literal["laplace", "gaussian"] = "laplace"
    epsilon: float | None = None
    """Total budget per period (None: differential privacy is not configured)."""
    delta: float = 0.0
    period: IsoDuration | None = None
    per_release: float | None = None
    max_contributions: int = 5
    scope: str = "server_logs"
    """Which budget a release spends (one ledger per scope)."""


def rules_from_declaration(declaration: Declaration) -> tuple[LogRules, StatsRules]:
    """The rules a declaration states; defaults for a section it leaves out."""
    logs = LogRules()
    declared = declaration.server_logs
    if declared is not None:
        logs = LogRules(
            ip=declared.ip,
            ipv4_prefix=declared.ipv4_prefix,
            ipv6_prefix=declared.ipv6_prefix,
            geolocation=declared.geolocation,
            user_agent=declared.user_agent,
            referrer=declared.referrer,
            isp=declared.isp,
        )
    stats = StatsRules()
    shared = declaration.statistics
    if shared is not None:
        budget = shared.privacy_budget
        stats = StatsRules(
            mode=shared.mode,
            min_group_size=shared.min_group_size,
            mechanism=shared.mechanism,
            epsilon=budget.epsilon if budget else None,
            delta=budget.delta if budget else 0.0,
            period=budget.period if budget else None,
            per_release=budget.per_release if budget else None,
            max_contributions=shared.max_contributions,
        )
    return logs, stats
