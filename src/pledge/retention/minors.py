"""Minors: subjects found under the declared minimum age, purged through the erasure path.

Three ways a minor is found:

- **a declared birth date** in the business data: a field mapped to
  ``user.demographic.date_of_birth`` saying the person is younger than ``minimum_age.age`` today;
- **the consent ledger**: an age or birth date declared to Pledge (``ConsentLedger.flagged_minors``).
  The ledger stores identities only as keyed hashes, so the business data's identity columns
  (e-mail, phone...) are hashed the same way and compared, to find the person's rows;
- **an operator's report** naming an identity (a parent wrote in).

Each is purged by the request engine's erasure (:func:`pledge.requests.execute.run_now`, every
collection reachable from what is known of the person), which keeps what a legal hold requires
and says so. One audit entry per subject says why (``minimum_age`` with the declared age and the
declaration's reason), and the subject is recorded in ``pledge_retention_minors`` so they are
never purged twice and readers of the consent ledger's flags can tell who is done.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from pledge.audit.entry import pseudonym
from pledge.audit.sink import AuditSink
from pledge.connectors.base import Connector, Row
from pledge.datamap.model import Collection, Datamap, Field
from pledge.declaration.model import Declaration
from pledge.declaration.taxonomy import is_within
from pledge.errors import ConfigError, InputError, PledgeError
from pledge.requests.execute import RequestExecutor, run_now
from pledge.requests.steps import Identity
from pledge.retention.bindings import Clock
from pledge.retention.clock import read_time
from pledge.retention.scan import ScanSpec, SqlScanner, scanner_for
from pledge.retention.sweep import audit_safe
from pledge.retention.tables import minors
from pledge.storage.db import Database

if TYPE_CHECKING:
    from pledge.consent.ledger import ConsentLedger

__all__ = [
    "BIRTH_DATE",
    "Minor",
    "MinorsReport",
    "find_by_birth_date",
    "find_flagged",
    "purge_minors",
    "purged_subjects",
    "reported_minor",
]

BIRTH_DATE = "user.demographic.date_of_birth"
_KIND_ALIASES = {"phone_number": ("phone",), "mail": ("email",), "e-mail": ("email",)}
_PAGE = 2000


@dataclass(frozen=True)
class Minor:
    subject: str
    """A consent-ledger subject id, or a keyed pseudonym of how the business data names them."""
    detected_by: str
    """``birth_date`` | ``consent_ledger`` | ``report``."""
    identities: tuple[Identity, ...]
    where: tuple[str, ...] = ()
    """Collections the person was found in."""
    report_reason: str | None = None


@dataclass
class MinorsReport:
    now: dt.datetime
    dry_run: bool
    minimum_age: int | None
    subjects: list[dict[str, Any]] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    """Ledger subjects whose identities match no row of the business data."""

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [s for s in self.subjects if s["status"] == "failed"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "minimum_age": self.minimum_age,
            "subjects": self.subjects,
            "ledger_subjects_not_in_business_data": self.not_found,
        }


def _age_on(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _birth_fields(collection: Collection) -> list[Field]:
    return [f for f in collection.fields if any(is_within(c, BIRTH_DATE) for c in f.categories)]


def _identities_of(collection: Collection, key: Sequence[str], row: Row) -> list[Identity]:
    found: list[Identity] = []
    if len(key) == 1 and row.get(key[0]) is not None:
        found.append(Identity(f"{collection.dataset}:{collection.name}.{key[0]}", str(row[key[0]])))
    for f in collection.fields:
        value = row.get(f.column)
        if f.identity and isinstance(value, str) and value.strip():
            found.append(Identity(f.identity, value))
    return found


def _sql(connector: Connector) -> SqlScanner:
    scanner = scanner_for(connector)
    if not isinstance(scanner, SqlScanner):
        raise ConfigError(f"{connector.key}: minors are found by scanning SQL tables only")
    return scanner


def find_by_birth_date(
    datamap: Datamap,
    connectors: Mapping[str, Connector],
    *,
    minimum_age: int,
    now: dt.datetime,
    hash_key: bytes,
) -> list[Minor]:
    """Rows whose mapped birth date makes the person younger than ``minimum_age`` on ``now``."""
    found: list[Minor] = []
    today = now.astimezone(dt.UTC).date()
    try:
        youngest_adult = today.replace(year=today.year - minimum_age)
    except ValueError:  # 29 February
        youngest_adult = today.replace(year=today.year - minimum_age, day=28)
    for collection in datamap.collections():
        fields = _birth_fields(collection)
        if not fields or collection.skip_processing:
            continue
        connector = connectors[collection.dataset]
        table = connector.describe().get(collection.name)
        if table is None:
            continue
        key = tuple(f.column for f in collection.primary_key) or table.primary_key
        if not key:
            continue
        columns = tuple(
            dict.fromkeys([*key, *(f.column for f in collection.fields if f.identity and not f.nested)])
        )
        for birth in fields:
            if birth.column not in table.columns:
                continue
            clock = Clock("birth_date", collection.ref, collection.ref, table.name, birth.column,
                          table.columns[birth.column].kind, None, str(birth.origin))  # fmt: skip
            spec = ScanSpec(
                table, key, tuple(dict.fromkeys([*columns, birth.column])), clock, table,
                dt.datetime(youngest_adult.year, youngest_adult.month, youngest_adult.day, tzinfo=dt.UTC)
                - dt.timedelta(days=2),
                newer=True,
            )  # fmt: skip
            scanner = _sql(connector)
            after: list[Any] | None = None
            while page := scanner.scan(spec, after, _PAGE):
                for row in page:
                    when = read_time(row.get(birth.column))
                    if not isinstance(when, dt.datetime) or _age_on(when.date(), today) >= minimum_age:
                        continue
                    name = json.dumps([collection.key, [str(row[c]) for c in key]])
                    identities = _identities_of(collection, key, row)
                    if identities:
                        found.append(
                            Minor(
                                pseudonym(hash_key, name, prefix="m_"),
                                "birth_date",
                                tuple(identities),
                                (collection.key,),
                            )
                        )
                after = [page[-1][c] for c in key]
                if len(page) < _PAGE:
                    break
    return found


def find_flagged(
    ledger: ConsentLedger,
    datamap: Datamap,
    connectors: Mapping[str, Connector],
    *,
    skip: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[Minor], list[str]]:
    """Ledger subjects flagged under age, with their rows found by hashing the business data's
    identity columns as the ledger does. Returns them and the subjects found nowhere."""
    from pledge.consent.tables import identities as identity_table

    flagged = [f.subject_id for f in ledger.flagged_minors() if f.subject_id not in skip]
    if not flagged:
        return [], []
    wanted: dict[tuple[str, str], str] = {}
    with ledger.db.connect() as conn:
        for subject in flagged:
            aliases = ledger.directory.aliases(subject, conn=conn)
            rows = conn.execute(
                sa.select(identity_table.c.kind, identity_table.c.digest).where(
                    identity_table.c.subject_id.in_(aliases)
                )
            )
            for hit in rows:
                wanted[(hit.kind, hit.digest)] = subject
    matched: dict[str, tuple[list[Identity], set[str]]] = {}
    for collection in datamap.collections():
        fields = [f for f in collection.fields if f.identity and not f.nested]
        if not fields or collection.skip_processing:
            continue
        connector = connectors[collection.dataset]
        table = connector.describe().get(collection.name)
        if table is None:
            continue
        key = tuple(f.column for f in collection.primary_key) or table.primary_key
        if not key:
            continue
        scanner = _sql(connector)
        columns = list(dict.fromkeys([*key, *(f.column for f in fields)]))
        after: list[Any] | None = None
        while page := scanner.rows(table, key, columns, after, _PAGE):
            for row in page:
                for f in fields:
                    value = row.get(f.column)
                    if not isinstance(value, str) or not value.strip():
                        continue
                    assert f.identity is not None
                    for kind in (f.identity, *_KIND_ALIASES.get(f.identity, ())):
                        try:
                            digest = ledger.directory.digest(kind, value)
                        except InputError:
                            continue  # not a valid value of that kind
                        owner = wanted.get((kind, digest))
                        if owner is not None:
                            ids, where = matched.setdefault(owner, ([], set()))
                            if Identity(f.identity, value) not in ids:
                                ids.append(Identity(f.identity, value))
                            where.add(collection.key)
            after = [page[-1][c] for c in key]
            if len(page) < _PAGE:
                break
    found = [
        Minor(subject, "consent_ledger", tuple(ids), tuple(sorted(where)))
        for subject, (ids, where) in sorted(matched.items())
    ]
    return found, [s for s in flagged if s not in matched]


def reported_minor(identities: Sequence[Identity], *, hash_key: bytes, reason: str | None) -> Minor:
    """An operator's report: the person named by ``identities``."""
    if not identities:
        raise InputError("a report names the person: give at least one --identity KIND=VALUE")
    name = json.dumps(sorted([i.kind, i.value] for i in identities))
    return Minor(pseudonym(hash_key, name, prefix="m_"), "report", tuple(identities), (), reason)


def purged_subjects(db: Database) -> dict[str, dt.datetime]:
    """Every subject purged as a minor, with when (readers of ``flagged_minors()`` use this)."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(minors.c.subject, minors.c.purged_at))
        return {r.subject: r.purged_at.replace(tzinfo=dt.UTC) for r in rows}


def _kept(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in summary.get("verification", {}).get("kept", []) or []:
        if item.get("law"):
            out.append(
                {
                    "collection": item.get("collection"),
                    "field": item.get("field"),
                    "law": item["law"],
                    "until": item.get("until"),
                }
            )
    return out


def purge_minors(
    found: Sequence[Minor],
    executor: RequestExecutor,
    declaration: Declaration,
    *,
    db: Database | None,
    audit: AuditSink | None,
    now: dt.datetime,
    dry_run: bool = False,
    run_id: str | None = None,
) -> MinorsReport:
    """Erase each minor's data (what the law keeps stays, with the law named), audit, record."""
    rule = declaration.minimum_age
    if rule is None:
        raise InputError("the declaration sets no minimum_age, so nobody is a minor to Pledge")
    if rule.on_detection != "purge":
        raise InputError(
            f"the declaration says minors are handled by '{rule.on_detection}', not purged",
            hint="set minimum_age.on_detection: purge to purge their data",
        )
    report = MinorsReport(now, dry_run, rule.age)
    done = purged_subjects(db) if db is not None else {}
    seen: set[str] = set()
    for minor in found:
        entry: dict[str, Any] = {
            "subject": minor.subject,
            "detected_by": minor.detected_by,
            "collections": list(minor.where),
        }
        if minor.subject in done or minor.subject in seen:
            report.subjects.append({**entry, "status": "already_purged"})
            continue
        seen.add(minor.subject)
        try:
            with tempfile.TemporaryDirectory(prefix="pledge-minor-") as workdir:
                result = run_now(
                    executor,
                    "erase",
                    minor.identities,
                    {"skip_unreachable": True, "dry_run": dry_run},
                    workdir=Path(workdir),
                )
        except PledgeError as error:
            report.subjects.append({**entry, "status": "failed", "error": error.message})
            continue
        summary = result["summary"]
        verification = summary.get("verification", {})
        counts = {
            "deleted": int(summary.get("deleted", 0)),
            "updated": int(summary.get("updated", 0)),
            "kept": _kept(summary),
            "verified": verification.get("verified"),
            "residual": int(verification.get("residual_count", 0) or 0),
        }
        status = "dry_run" if dry_run else ("purged" if counts["verified"] is not False else "failed")
        report.subjects.append({**entry, "status": status, **counts})
        if dry_run:
            continue
        payload = {
            "minimum_age": rule.age,
            "reason": rule.reason,
            "on_detection": rule.on_detection,
            "detected_by": minor.detected_by,
            "report_reason": minor.report_reason,
            "collections": list(minor.where),
            "run": run_id,
            **counts,
        }
        stamp = now.astimezone(dt.UTC).replace(tzinfo=None)
        if db is None:
            if audit is not None:
                audit.append("minors.purged", audit_safe(payload), subject=minor.subject)
            continue
        try:
            with db.begin() as conn:
                index = (
                    audit.append("minors.purged", audit_safe(payload), subject=minor.subject, conn=conn)
                    if audit
                    else None
                )
                conn.execute(
                    sa.insert(minors).values(
                        subject=minor.subject,
                        detected_by=minor.detected_by,
                        detected_at=stamp,
                        purged_at=stamp,
                        run_id=run_id,
                        audit_index=index,
                        details=json.dumps(counts, default=str),
                    )
                )
        except sa.exc.IntegrityError:
            # Another process purged them at the same moment (and audited it); the erasure above
            # changed nothing more, and this audit entry was rolled back with the insert.
            report.subjects[-1]["status"] = "already_purged"
    return report
