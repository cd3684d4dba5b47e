"""``pledge consent show|grant|withdraw|object|minors`` and ``pledge decide``: the operator's view of
the consent ledger and of decisions. Thin: parse, call the core, print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pledge.cli import _output
from pledge.cli._common import ConfigOpt, DbOpt, JsonOpt, open_system, reported
from pledge.errors import InputError

if TYPE_CHECKING:
    from pledge.consent.ledger import ConsentLedger

consent_app = typer.Typer(
    name="consent",
    help="See and change a person's consent (the append-only ledger).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

IdentityOpt = Annotated[
    str,
    typer.Option("--identity", "-i", help="how the person is known: KIND=VALUE, e.g. email=ann@example.com"),
]
SourceOpt = Annotated[
    str,
    typer.Option("--source", help="where the choice was made: operator, api, import, privacy_center, ..."),
]
ProofOpt = Annotated[str | None, typer.Option("--proof", help="what the person saw or said (kept as proof)")]
JurisdictionOpt = Annotated[str | None, typer.Option("--jurisdiction", help="a declared jurisdiction id")]


def _subject(ledger: ConsentLedger, identity: str, *, create: bool) -> str | None:
    from pledge.consent import Identity

    who = Identity.parse(identity)
    if create:
        return ledger.directory.resolve(who.kind, who.value)
    return ledger.directory.find(who.kind, who.value)


# --- consent ----------------------------------------------------------------------------------------


@consent_app.command("show")
def show(
    identity: IdentityOpt,
    config: ConfigOpt = None,
    db: DbOpt = None,
    jurisdiction: JurisdictionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Each purpose's current status for this person, and their consent history."""
    with reported(), open_system(config, db, needed_by="the consent ledger") as system:
        from pledge.consent.overview import overview

        subject = _subject(system.ledger, identity, create=False)
        state = system.ledger.load_state(subject) if subject else None
        rows = overview(system.ledger.policy, state, jurisdiction=jurisdiction)
        history = system.ledger.events(subject) if subject else []
        if json_out:
            _output.print_json(
                {"subject": subject, "purposes": rows, "events": [e.as_dict() for e in history]}
            )
            return
        out = _output.out
        out.print(f"subject: {subject or '(none yet: the declaration defaults apply)'}", markup=False)
        for row in rows:
            mark = "allowed" if row["allowed"] else "denied "
            channels = ", ".join(f"{c}: {r}" for c, r in row["channels"].items())
            extra = f"  [{channels}]" if channels else ""
            out.print(f"  {mark}  {row['purpose']:<28} {row['reason']}{extra}", markup=False)
        if history:
            out.print("history:")
        for event in history:
            where = f"{event.purpose}/{event.channel}"
            out.print(
                f"  {event.occurred_at:%Y-%m-%d %H:%M}Z  {event.kind:<20} {where:<30} by {event.source}",
                markup=False,
            )


def _record(
    kind: str,
    identity: str,
    purpose: str,
    channel: str,
    config: Path | None,
    db: str | None,
    source: str,
    proof: str | None,
    jurisdiction: str | None,
    json_out: bool,
) -> None:
    with reported(), open_system(config, db, needed_by="the consent ledger") as system:
        subject = _subject(system.ledger, identity, create=True)
        assert subject is not None
        event = system.ledger.record(
            subject,
            kind,
            purpose=purpose,
            channel=channel,
            source=source,
            proof=proof,
            jurisdiction=jurisdiction,
        )
        if json_out:
            _output.print_json(event.as_dict())
            return
        scope = purpose if channel == "*" else f"{purpose} by {channel}"
        _output.out.print(f"recorded {kind} of {scope} for {subject} (event {event.id})", markup=False)


@consent_app.command("grant")
def grant(
    identity: IdentityOpt,
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="the purpose id")],
    channel: Annotated[str, typer.Option("--channel", "-c", help="one channel, or * for all")] = "*",
    config: ConfigOpt = None,
    db: DbOpt = None,
    source: SourceOpt = "operator",
    proof: ProofOpt = None,
    jurisdiction: JurisdictionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record that the person gave consent to a purpose (optionally for one channel)."""
    _record("grant", identity, purpose, channel, config, db, source, proof, jurisdiction, json_out)


@consent_app.command("withdraw")
def withdraw(
    identity: IdentityOpt,
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="the purpose id, or * for every one")] = "*",
    channel: Annotated[str, typer.Option("--channel", "-c", help="one channel, or * for all")] = "*",
    config: ConfigOpt = None,
    db: DbOpt = None,
    source: SourceOpt = "operator",
    proof: ProofOpt = None,
    jurisdiction: JurisdictionOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record that the person withdrew consent (or opted out), from one purpose or all."""
    _record("withdraw", identity, purpose, channel, config, db, source, proof, jurisdiction, json_out)


@consent_app.command("object")
def object_(
    identity: IdentityOpt,
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="the purpose id, or * for every one")] = "*",
    config: ConfigOpt = None,
    db: DbOpt = None,
    source: SourceOpt = "operator",
    proof: ProofOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record that the person objects to a purpose (or to every purpose one may object to)."""
    _record("object", identity, purpose, "*", config, db, source, proof, None, json_out)


@consent_app.command("minors")
def minors(config: ConfigOpt = None, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Subjects found under the declared minimum age, awaiting purge."""
    with reported(), open_system(config, db, needed_by="the consent ledger") as system:
        flagged = system.ledger.flagged_minors()
        if json_out:
            _output.print_json(
                [{"subject": f.subject_id, "flagged_at": f.flagged_at.isoformat()} for f in flagged]
            )
            return
        for f in flagged:
            _output.out.print(f"{f.subject_id}\tflagged {f.flagged_at:%Y-%m-%d %H:%M}Z", markup=False)
        if not flagged:
            _output.out.print("no subjects are flagged")


# --- decide -----------------------------------------------------------------------------------------


def decide(
    identity: IdentityOpt,
    purpose: Annotated[str, typer.Option("--purpose", "-p", help="the purpose id")],
    categories: Annotated[
        list[str], typer.Option("--categories", help="data categories, comma-separated or repeated")
    ],
    recipient: Annotated[
        str | None, typer.Option("--recipient", "-r", help="who would receive the data")
    ] = None,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="e.g. email, postal_mail")] = None,
    jurisdiction: JurisdictionOpt = None,
    gpc: Annotated[
        bool, typer.Option("--gpc", help="the request carries a Global Privacy Control signal")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """May this purpose use these categories of this person? Exit 0 when allowed, 1 when denied."""
    with reported(), open_system(config, db, needed_by="the consent ledger") as system:
        from pledge.policy import describe

        cats = tuple(c.strip() for item in categories for c in item.split(",") if c.strip())
        if not cats:
            raise InputError("name at least one category", hint="--categories user.contact.email")
        subject = _subject(system.ledger, identity, create=True)
        # Its record (a denial) is written when the system closes, before the command returns.
        decision = system.enforcer.decide(
            subject, purpose, cats, recipient, channel=channel, jurisdiction=jurisdiction, gpc=gpc or None
        )
        if json_out:
            _output.print_json(
                {"subject": subject, **decision.as_dict(), "explanation": describe(decision.reason)}
            )
        else:
            verdict = "allowed" if decision.allowed else "denied"
            _output.out.print(f"{verdict}: {decision.reason} — {decision.detail}", markup=False)
    if not decision.allowed:
        raise typer.Exit(_output.EXIT_FINDING)


def register(app: typer.Typer) -> None:
    app.add_typer(consent_app, name="consent")
    app.command("decide")(decide)
