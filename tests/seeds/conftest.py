"""The five example declarations, compiled once; decision tests for each one's distinctive promises."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pytest

from pledge.audit.sink import MemoryAudit
from pledge.consent import ConsentLedger, open_enforcer
from pledge.declaration import LoadedDeclaration, load_declaration
from pledge.policy import CompiledPolicy, Enforcer, StaticStates, compile_policy
from pledge.sharing import Sharing
from pledge.storage import Database
from tests.conftest import EXAMPLES
from tests.policy.conftest import make_state

TODAY = dt.date(2025, 6, 1)


def example(name: str) -> LoadedDeclaration:
    path = EXAMPLES / name / "privacy.yaml"
    if not path.exists():
        pytest.fail(f"example {name} is missing: {path}")
    return load_declaration(path)


class Asker:
    """Decisions about made-up subjects whose ledger history is given inline."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self.states = StaticStates()
        self.audit = MemoryAudit()
        self.enforcer = Enforcer(policy, self.states, self.audit, today=lambda: TODAY, flush_interval=None)
        self._n = 0

    def __call__(
        self,
        events: tuple[tuple[object, ...], ...],
        purpose: str,
        categories: object = (),
        recipient: str | None = None,
        **kw: object,
    ) -> str:
        self._n += 1
        subject = f"s{self._n}"
        self.states.states[subject] = make_state(subject, *events)
        return str(self.enforcer.decide(subject, purpose, categories, recipient, **kw).reason)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ask_for() -> Callable[[str], Asker]:
    cache: dict[str, Asker] = {}

    def make(name: str) -> Asker:
        if name not in cache:
            cache[name] = Asker(compile_policy(example(name)))
        return cache[name]

    return make


@pytest.fixture
def stored_for(db_url: str) -> Iterator[Callable[[str], tuple[ConsentLedger, Enforcer, Sharing]]]:
    """A real ledger, enforcer and sharing service on SQLite and PostgreSQL for one example."""
    db = Database(db_url)
    db.migrate()
    opened: list[Enforcer] = []

    def make(name: str) -> tuple[ConsentLedger, Enforcer, Sharing]:
        audit = MemoryAudit()
        ledger = ConsentLedger(db, compile_policy(example(name)), audit, hash_key=b"h" * 32)
        enforcer = open_enforcer(ledger, cross_process=False)
        opened.append(enforcer)
        return ledger, enforcer, Sharing(enforcer, db, audit, directory=ledger.directory)

    yield make
    for enforcer in opened:
        enforcer.close()
    db.dispose()
