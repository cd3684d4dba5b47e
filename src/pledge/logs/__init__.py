"""Server logs and shareable statistics: anonymise access logs, then release safe aggregates.

``ingest`` streams nginx/Apache access logs through the anonymiser (IP truncation or hashing,
country from the full address, parsed user agent, identifiers scrubbed from targets, referrers
and the user field); ``compute_statistics`` aggregates an anonymised stream and releases it under
the declared protection (minimum group size, or differential privacy with OpenDP charged to the
persisted ``BudgetLedger``); ``write_release`` writes the release as JSON, CSV and charts.
OpenDP and matplotlib are imported only when a DP release or a chart is made.
"""

from pledge.logs.anonymise import Anonymiser
from pledge.logs.export import write_release
from pledge.logs.ingest import IngestReport, ingest
from pledge.logs.ledger import BudgetLedger
from pledge.logs.release import Release, ReleasedTable
from pledge.logs.rules import LogRules, StatsRules, rules_from_declaration
from pledge.logs.stats import compute_statistics

__all__ = [
    "Anonymiser",
    "BudgetLedger",
    "IngestReport",
    "LogRules",
    "Release",
    "ReleasedTable",
    "StatsRules",
    "compute_statistics",
    "ingest",
    "rules_from_declaration",
    "write_release",
]
