"""``pledge logs stats``: anonymised logs in, a release that is safe to share out.

One function the CLI (and the admin console, and ``ingest --stats``) call: read the files, build
the aggregate, release it under the declared mode. The aggregate never leaves this function.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pledge.errors import InputError
from pledge.logs.aggregate import TABLES, Aggregate
from pledge.logs.hits import ReadCounts, iter_hits
from pledge.logs.ledger import BudgetLedger
from pledge.logs.release import Release
from pledge.logs.rules import LogRules, StatsRules

__all__ = ["compute_statistics"]

Mode = Literal["suppress", "dp"]


def compute_statistics(
    paths: Sequence[str],
    *,
    log_rules: LogRules | None = None,
    stats_rules: StatsRules | None = None,
    hash_key: bytes | None = None,
    mode: Mode | None = None,
    epsilon: float | None = None,
    tables: Iterable[str] | None = None,
    ledger: BudgetLedger | None = None,
    counts: list[ReadCounts] | None = None,
    top: int = 50,
) -> Release:
    """Aggregate ``paths`` and release them: ``suppress`` (minimum group size) or ``dp``.

    ``mode`` defaults to the declaration's (``differential_privacy`` and ``both`` mean ``dp``).
    A DP release needs ``ledger`` (the budget is spent there before any noise is drawn).
    """
    rules = stats_rules or StatsRules()
    chosen: Mode = mode or ("suppress" if rules.mode == "suppress" else "dp")
    names = list(tables) if tables is not None else list(TABLES)
    unknown = [name for name in names if name not in TABLES]
    if unknown:
        raise InputError(f"unknown table(s): {', '.join(unknown)}", hint=f"choose from {', '.join(TABLES)}")
    if chosen == "dp":
        if ledger is None:
            raise InputError("a differentially private release needs the budget ledger (a database)")
        from pledge.logs.dp import release_dp

        aggregate = Aggregate(cap=rules.min_group_size, max_contributions=rules.max_contributions)
        aggregate.add_all(iter_hits(paths, rules=log_rules, hash_key=hash_key, counts=counts))
        if aggregate.requests == 0:
            raise InputError("no requests in the input: nothing to release")
        dp_rules = rules
        if rules.mode == "suppress":  # asked for DP on the command line: DP alone
            from dataclasses import replace

            dp_rules = replace(rules, mode="differential_privacy")
        return release_dp(aggregate, dp_rules, ledger, epsilon=epsilon, tables=names, top=top)
    from pledge.logs.suppress import release_suppressed

    aggregate = Aggregate(cap=rules.min_group_size)
    aggregate.add_all(iter_hits(paths, rules=log_rules, hash_key=hash_key, counts=counts))
    if aggregate.requests == 0:
        raise InputError("no requests in the input: nothing to release")
    return release_suppressed(aggregate, rules.min_group_size, tables=names, top=top)
