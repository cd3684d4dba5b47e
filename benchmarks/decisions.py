"""Benchmark: median in-process ``Enforcer.decide()`` latency vs pycasbin 2.8 on the PESI example.

Both answer the same questions, in the same run, about the same subjects:

- **policy**: ``examples/pesi/privacy.yaml`` — 20 purposes, 10 recipients, the category taxonomy.
- **subjects**: ``--subjects`` people (default 500) with seeded random consent histories (grants
  and withdrawals per purpose and channel, objections, restrictions, opt-outs of sale, GPC
  signals, a few minors), derived once into each engine's subject representation.
- **questions**: ``--questions`` (default 600) seeded random ``(subject, purpose, 1–2 categories,
  recipient or none, channel)`` tuples, some deliberately wrong (a category or recipient the
  purpose does not allow).

**Ours**: ``pledge.policy.Enforcer`` on the compiled declaration, subjects cached (the state it
would otherwise load from the ledger comes from ``StaticStates``), with an in-memory audit sink
that keeps every record (``ListSink`` below): allowed decisions are counted, denials queued and
written to the sink in batches — the enforcer's real per-call work, without the audit store's
own I/O (which casbin, logging nothing, does not do either).

**Peer**: pycasbin's ``FastEnforcer`` with an ABAC model configured as casbin's documentation
advises for many attribute rules: the rules live in the policy and the matcher calls
``eval(p.rule)``; request attributes are an object per subject (``r.sub.minor``,
``r.sub.objected_list_rental``, ``r.sub.consent_relevant_offers_email``, ...), derived from the
same consent state with the same semantics; the category taxonomy is a role hierarchy
(``g(r.cat, p.cat)``, so ``user.contact.address.street`` matches ``user.contact.address``); and
``cache_key_order`` filters the policy by purpose and recipient before matching (the pycasbin way
to avoid scanning every rule). One line per (purpose, recipient, channel, minimal category) with
that combination's rule: minimum age, restriction, objection, sale opt-out, consent mode. A
question with two categories is two ``enforce`` calls (casbin decides one object at a time).
Before timing, every answer of both engines is compared; any disagreement aborts the run.

Each figure is the median over questions of the per-call time of that question (``--repeat``
calls, ours; fewer for casbin, which is slower), in nanoseconds. Headline: all questions.
Usage: ``python benchmarks/decisions.py [--subjects N] [--questions N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import casbin
from casbin.model import FastModel

from pledge.consent.derive import derive_state
from pledge.consent.events import ConsentEvent
from pledge.declaration import load_declaration
from pledge.policy import ANY, CompiledPolicy, Enforcer, StaticStates, SubjectState, compile_policy

SEED = 20261123
TODAY = dt.date(2025, 6, 1)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pesi" / "privacy.yaml"
OVERRIDING = ("legal_obligation", "vital_interest")

MODEL_EVAL = """
[request_definition]
r = pur, rcp, sub, cat, ch

[policy_definition]
p = pur, rcp, cat, ch, rule

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.pur == p.pur && r.rcp == p.rcp && r.ch == p.ch && g(r.cat, p.cat) && eval(p.rule)
"""

# The same policy with the logic in the matcher instead of eval(): casbin compiles it once per
# call rather than once per matching rule. Not what the docs advise for many rules, but faster.
MODEL_MATCHER = """
[request_definition]
r = pur, rcp, sub, cat, ch

[policy_definition]
p = pur, rcp, cat, ch, guarded, objectable, sale, mode

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.pur == p.pur && r.rcp == p.rcp && r.ch == p.ch && g(r.cat, p.cat) \
  && (p.guarded == "no" || (r.sub.minor == False && r.sub.restricted[r.pur] == False)) \
  && (p.objectable == "no" || r.sub.objected[r.pur] == False) \
  && (p.sale == "no" || r.sub.sale_ok == True) \
  && (p.mode == "none" || (p.mode == "in" && r.sub.consent[r.pur + "/" + r.ch] == "granted") \
      || (p.mode == "out" && r.sub.consent[r.pur + "/" + r.ch] != "withdrawn"))
"""


class ListSink:
    """An audit sink that keeps everything in memory: counts per (purpose, categories), records
    in a list (``append_many`` for the enforcer's batches)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, str | None]] = []
        self.allowed: dict[tuple[str, tuple[str, ...]], int] = {}

    def append(self, kind: str, payload: Any, *, subject: str | None = None, conn: Any = None) -> int:
        self.records.append((kind, payload, subject))
        return len(self.records) - 1

    def append_many(self, items: list[tuple[str, Any, str | None]], *, conn: Any = None) -> list[int]:
        start = len(self.records)
        self.records.extend(items)
        return list(range(start, len(self.records)))

    def count_allowed(self, purpose: str, categories: tuple[str, ...]) -> None:
        key = (purpose, categories)
        self.allowed[key] = self.allowed.get(key, 0) + 1


# --- the workload ---------------------------------------------------------------------------------


def make_states(policy: CompiledPolicy, count: int, rng: random.Random) -> dict[str, SubjectState]:
    purposes = list(policy.purposes.values())
    choosy = [p for p in purposes if p.consent_choice]
    objectable = [p for p in purposes if p.may_object]
    when = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    states: dict[str, SubjectState] = {}
    for n in range(count):
        subject = f"s{n:05d}"
        events: list[tuple[str, str, str, Any]] = []
        for _ in range(rng.randint(0, 8)):
            roll = rng.random()
            if roll < 0.45:
                rule = rng.choice(choosy)
                channel = rng.choice([ANY, *sorted(rule.channels)])
                events.append((rng.choice(["grant", "grant", "withdraw"]), rule.id, channel, None))
            elif roll < 0.55:
                events.append(("withdraw", ANY, ANY, None))
            elif roll < 0.7:
                target = rng.choice([ANY, *(p.id for p in objectable)])
                events.append((rng.choice(["object", "object", "withdraw_objection"]), target, ANY, None))
            elif roll < 0.76:
                events.append(
                    (
                        rng.choice(["restrict", "lift_restriction"]),
                        rng.choice([ANY, "list_rental"]),
                        ANY,
                        None,
                    )
                )
            elif roll < 0.9:
                events.append(
                    (rng.choice(["opt_out_of_sale", "opt_in_to_sale", "gpc_signal"]), ANY, ANY, None)
                )
            elif roll < 0.92:
                events.append(("age_declared", ANY, ANY, {"age": rng.choice([15, 17, 30, 45])}))
        ledger = [
            ConsentEvent(
                id=i,
                subject_id=subject,
                kind=kind,
                purpose=purpose,
                channel=channel,
                value=value,
                jurisdiction=None,
                source="import",
                policy_version=policy.version,
                declaration_digest=policy.digest,
                proof=None,
                proof_hash=None,
                occurred_at=when,
                recorded_at=when,
                audit_index=None,
            )
            for i, (kind, purpose, channel, value) in enumerate(events, start=1)
        ]
        states[subject] = derive_state(subject, ledger, baseline_version=policy.version)
    return states


Question = tuple[str, str, tuple[str, ...], str | None, str | None]


def make_questions(
    policy: CompiledPolicy, subjects: Sequence[str], count: int, rng: random.Random
) -> list[Question]:
    declared = {p.id: p for p in policy.declaration.purposes}
    recipients_of = {
        pid: [r.id for r in policy.recipients.values() if pid in r.purposes] for pid in policy.purposes
    }
    everything = sorted({c for p in policy.declaration.purposes for c in p.categories})
    questions: list[Question] = []
    for _ in range(count):
        purpose = rng.choice(list(policy.purposes))
        rule = policy.purposes[purpose]
        if rule.aggregate_only:
            continue  # about a person, always the same answer; nothing to compare
        pool = list(declared[purpose].categories)
        cats = rng.sample(pool, k=min(len(pool), rng.choice([1, 1, 2])))
        if rng.random() < 0.1:
            cats = [rng.choice(everything)]  # maybe not allowed
        roll = rng.random()
        recipient: str | None = None
        if roll < 0.3 and recipients_of[purpose]:
            recipient = rng.choice(recipients_of[purpose])
            receivable = sorted(policy.receivable(recipient, purpose))
            if receivable and rng.random() < 0.7:
                cats = [rng.choice(receivable)]
        elif roll < 0.35:
            recipient = rng.choice(sorted(policy.recipients))
        channel = rng.choice(sorted(rule.channels)) if rule.channels else None
        questions.append((rng.choice(subjects), purpose, tuple(sorted(set(cats))), recipient, channel))
    return questions


# --- the peer ---------------------------------------------------------------------------------------


def casbin_subject(policy: CompiledPolicy, state: SubjectState) -> SimpleNamespace:
    """The ABAC attributes of one subject, from the same derived state."""
    attrs: dict[str, Any] = {"restricted": {}, "objected": {}, "consent": {}}
    age = state.age_on(TODAY)
    attrs["minor"] = age is not None and policy.minimum_age is not None and age < policy.minimum_age
    attrs["sale_ok"] = state.sale is None or state.sale.kind == "opt_in"
    for rule in policy.purposes.values():
        attrs[f"restricted_{rule.id}"] = attrs["restricted"][rule.id] = state.restricted(rule.id)
        attrs[f"objected_{rule.id}"] = attrs["objected"][rule.id] = state.objected(rule.id)
        for channel in sorted(rule.channels) or [None]:
            mark, _ = state.consent_mark(rule.id, channel)
            status = "none" if mark is None else ("granted" if mark.on else "withdrawn")
            attrs[f"consent_{rule.id}_{channel or 'none'}"] = status
            attrs["consent"][f"{rule.id}/{channel or 'none'}"] = status
    return SimpleNamespace(**attrs)


def minimal(categories: frozenset[str]) -> list[str]:
    """The categories whose parent is not in the set (the hierarchy supplies the rest)."""
    return sorted(c for c in categories if c.rpartition(".")[0] not in categories)


def casbin_enforcer(policy: CompiledPolicy, *, with_eval: bool = True) -> Any:
    model = FastModel([0, 1])  # the model FastEnforcer builds for cache_key_order
    model.load_model_from_text(MODEL_EVAL if with_eval else MODEL_MATCHER)
    enforcer = casbin.FastEnforcer(model, cache_key_order=[0, 1])
    lines: list[list[str]] = []
    for rule in policy.purposes.values():
        if rule.aggregate_only or rule.advertising or policy.consent_for_new_purposes:
            if not rule.aggregate_only:
                raise SystemExit(f"the casbin translation does not cover purpose {rule.id!r}")
            continue
        targets: list[tuple[str, frozenset[str], bool]] = [("none", rule.allowed, False)]
        for recipient in policy.recipients.values():
            if rule.id in recipient.purposes and not recipient.aggregate_only:
                targets.append((recipient.id, recipient.receivable.get(rule.id, frozenset()), recipient.sale))
        for channel in sorted(rule.channels) or [None]:
            ch = channel or "none"
            for recipient_id, cats, sale in targets:
                parts: list[str] = []
                if rule.lawful_basis not in OVERRIDING:
                    parts += ["r.sub.minor == False", f"r.sub.restricted_{rule.id} == False"]
                if rule.may_object:
                    parts.append(f"r.sub.objected_{rule.id} == False")
                if sale:
                    parts.append("r.sub.sale_ok == True")
                mode = rule.mode(None)
                if mode == "opt_in" or (mode == "notice_only" and rule.lawful_basis == "consent"):
                    parts.append(f"r.sub.consent_{rule.id}_{ch} == 'granted'")
                    short = "in"
                elif mode == "opt_out":
                    parts.append(f"r.sub.consent_{rule.id}_{ch} != 'withdrawn'")
                    short = "out"
                else:
                    short = "none"
                if with_eval:
                    tail = [" && ".join(parts) or "True"]
                else:
                    guarded = "no" if rule.lawful_basis in OVERRIDING else "yes"
                    tail = [guarded, "yes" if rule.may_object else "no", "yes" if sale else "no", short]
                lines.extend([rule.id, recipient_id, cat, ch, *tail] for cat in minimal(cats))
    enforcer.add_policies(lines)
    links = [[c, c.rpartition(".")[0]] for c in sorted(policy.categories) if "." in c]
    enforcer.add_grouping_policies(links)
    return enforcer


# --- timing -----------------------------------------------------------------------------------------


def per_call_ns(call: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(repeat):
        call()
    return (time.perf_counter_ns() - start) / repeat


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--questions", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=2000, help="calls per question, ours")
    parser.add_argument("--peer-repeat", type=int, default=5, help="calls per question, casbin")
    args = parser.parse_args(argv)

    rng = random.Random(SEED)
    policy = compile_policy(load_declaration(EXAMPLE))
    states = make_states(policy, args.subjects, rng)
    questions = make_questions(policy, sorted(states), args.questions, rng)

    audit = ListSink()
    ours = Enforcer(policy, StaticStates(states), audit, today=lambda: TODAY)
    peer = casbin_enforcer(policy)
    tuned = casbin_enforcer(policy, with_eval=False)
    attributes = {s: casbin_subject(policy, state) for s, state in states.items()}

    def ask_ours(q: Question) -> Callable[[], object]:
        subject, purpose, cats, recipient, channel = q
        decide = ours.decide
        return lambda: decide(subject, purpose, cats, recipient, channel=channel)

    def ask_peer(q: Question, engine: Any = peer) -> Callable[[], object]:
        subject, purpose, cats, recipient, channel = q
        sub, rcp, ch, enforce = attributes[subject], recipient or "none", channel or "none", engine.enforce

        def call() -> bool:
            try:
                return all(enforce(purpose, rcp, sub, cat, ch) for cat in cats)
            except RuntimeError:  # casbin: "make sure rule exists in policy when using eval()"
                return False  # no rule for this purpose and recipient: deny, as a caller must

        return call

    # Same answers, or the comparison means nothing.
    disagreements = []
    allowed: list[bool] = []
    for q in questions:
        mine = ours.decide(q[0], q[1], q[2], q[3], channel=q[4])
        theirs, tuned_answer = ask_peer(q)(), ask_peer(q, tuned)()
        allowed.append(mine.allowed)
        if not mine.allowed == theirs == tuned_answer:
            disagreements.append((q, mine.reason, (theirs, tuned_answer)))
    if disagreements:
        for q, reason, theirs in disagreements[:10]:
            print(f"disagree: {q} ours={reason} casbin={theirs}", file=sys.stderr)
        print(f"{len(disagreements)} of {len(questions)} answers differ; not timing", file=sys.stderr)
        return 1

    ours_ns = [per_call_ns(ask_ours(q), args.repeat) for q in questions]
    peer_ns = [per_call_ns(ask_peer(q), args.peer_repeat) for q in questions]
    tuned_ns = [per_call_ns(ask_peer(q, tuned), args.peer_repeat) for q in questions]

    # Without the memo: a fresh enforcer answering each question once (state cached, decision not).
    cold_ns: list[float] = []
    for q in questions:
        fresh = Enforcer(policy, StaticStates(states), ListSink(), today=lambda: TODAY)
        fresh.decide(q[0], "order_fulfilment", ())  # load the subject, so only the decision is timed
        start = time.perf_counter_ns()
        fresh.decide(q[0], q[1], q[2], q[3], channel=q[4])
        cold_ns.append(time.perf_counter_ns() - start)

    def line(name: str, mine: Sequence[float], theirs: Sequence[float]) -> None:
        a, b = statistics.median(mine), statistics.median(theirs)
        print(
            json.dumps(
                {
                    "bench": name,
                    "ours": round(a, 1),
                    "peer": round(b, 1),
                    "unit": "ns",
                    "ratio": round(b / a, 1),
                }
            )
        )

    yes = [i for i, ok in enumerate(allowed) if ok]
    no = [i for i, ok in enumerate(allowed) if not ok]
    print(
        json.dumps(
            {
                "bench": "decisions_workload",
                "questions": len(questions),
                "allowed": len(yes),
                "denied": len(no),
                "casbin_rules": len(peer.get_policy()),
            }
        ),
        file=sys.stderr,
    )
    line("decide_allowed_median", [ours_ns[i] for i in yes], [peer_ns[i] for i in yes])
    line("decide_denied_median", [ours_ns[i] for i in no], [peer_ns[i] for i in no])
    line("decide_uncached_median", cold_ns, peer_ns)
    line("decide_median_vs_casbin_without_eval", ours_ns, tuned_ns)
    line("decide_median", ours_ns, peer_ns)
    ours.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
