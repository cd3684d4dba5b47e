"""Benchmark: data-subject requests over PostgreSQL with 1,000,000 subjects, against hand-written SQL.

Two databases, built fast with ``generate_series`` in dedicated databases dropped afterwards:
``shop`` — customers (1,000,000), orders (0-2 per customer, ~1,000,000), order lines (2 per order,
~2,000,000), with foreign keys and indexes on every key searched; ``marketing`` — a newsletter table
(every second customer, found by e-mail and by the shop's customer id).

1. **access, archive** — one access request as the workflow runs it (plan cached, rows fetched,
   ``data.json``, CSVs, manifest and zip written) against the peer fetching the same rows.
   Reported for honesty: the archive is work the peer does not do.
2. **access, rows** — the same request up to the rows (the traversal an access request runs,
   plan cached), against the peer: hand-written indexed SQL through psycopg 3 fetching the same
   rows (customer by e-mail, their orders, the orders' lines, newsletter rows by e-mail or customer
   id), one transaction per database, as an application would write it. Median over
   ``--requests`` people drawn at random, both sides alternating on the same people.
   Goal: ratio >= 0.77 (ours within 1.3x of the SQL).
3. **bulk erasure without verification** — the same as 4 with ``verify=False`` (what the
   verification pass costs, for retention sweeps that check separately). For transparency.
4. **bulk erasure (headline)** — ``erase_subjects`` for ``--subjects`` people at once (collect,
   delete lines, orders and newsletter rows, mask customers' e-mail and name, null the phone,
   then the verification pass searching again by every e-mail and key), against the peer: raw
   batched ``SELECT … = ANY`` / ``DELETE … WHERE id = ANY(...)`` / ``UPDATE … FROM unnest(...)``
   through psycopg 3 leaving the same end state (same masks, computed by the same function), no
   verification. Each side erases its own disjoint random set of people (same size, same
   distribution); median of ``--rounds``. Goal: ratio >= 0.7. Ours works on several connections
   at once where the datamap allows (customers' fields while order lines and orders go, the
   newsletter list in its own database, the verification's searches side by side); the peer,
   as such code is usually written, runs one statement after another. The JSON line says so,
   with ours' CPU time and the unverified ratio beside the headline.

Usage: ``python benchmarks/requests.py [--subjects N] [--requests N] [--rounds N] [--customers N]
[--reuse] [--only access|erasure]`` (PostgreSQL at ``PLEDGE_BENCH_PG``, default
``postgresql://postgres@127.0.0.1:5432/postgres``). Building 1,000,000 subjects takes minutes:
``--reuse`` (or ``PLEDGE_BENCH_REUSE=1``) keeps the seeded databases as templates named after
the size and the DDL, and each run works on a fresh copy (``CREATE DATABASE … TEMPLATE``, a file
copy of a few seconds), so runs stay independent; ``--drop-cache`` removes the templates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from pledge.connectors import open_connector
from pledge.datamap import parse_datamap
from pledge.declaration import parse_declaration
from pledge.requests.execute import RequestExecutor, erase_subjects, run_now
from pledge.requests.steps import Identity
from pledge.requests.strategies import mask_seed, mask_text
from pledge.requests.traverse import traverse

SEED = 20261124
HASH_KEY = b"bench-hash-key-0123456789abcdef"
ADMIN = os.environ.get("PLEDGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

SHOP_DDL = """
SET synchronous_commit = off;
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, phone text,
                        created_at timestamptz NOT NULL);
INSERT INTO customers
  SELECT g, 'user' || g || '@example.com', 'Customer ' || g,
         CASE WHEN g % 2 = 0 THEN '+1 555 ' || g END, now() - (g % 1000) * interval '1 day'
  FROM generate_series(1, {n}) g;
CREATE UNIQUE INDEX customers_email ON customers (email);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, placed_at date NOT NULL,
                     total numeric(10, 2) NOT NULL, note text);
INSERT INTO orders
  SELECT c * 3 + k, c, date '2024-01-01' + (c % 365), (c % 100) + 0.99,
         CASE WHEN k = 0 THEN 'leave at door ' || c END
  FROM generate_series(1, {n}) c, generate_series(0, 1) k WHERE k < c % 3;
CREATE INDEX orders_customer ON orders (customer_id);
CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id bigint NOT NULL, sku text NOT NULL,
                          quantity int NOT NULL, gift_message text);
INSERT INTO order_lines
  SELECT o.id * 2 + j, o.id, 'SKU-' || (o.id % 1000), 1 + j, CASE WHEN j = 1 THEN 'gift ' || o.id END
  FROM orders o, generate_series(0, 1) j;
CREATE INDEX order_lines_order ON order_lines (order_id);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE order_lines ADD FOREIGN KEY (order_id) REFERENCES orders (id);
ANALYZE;
"""
MARKETING_DDL = """
SET synchronous_commit = off;
CREATE TABLE newsletter (id bigint PRIMARY KEY, email text NOT NULL, customer_id bigint,
                         subscribed_at timestamptz NOT NULL);
INSERT INTO newsletter SELECT g, 'user' || g || '@example.com', g, now()
  FROM generate_series(2, {n}, 2) g;
CREATE INDEX newsletter_email ON newsletter (email);
CREATE INDEX newsletter_customer ON newsletter (customer_id);
ANALYZE;
"""

DATAMAP = textwrap.dedent(
    """\
    dataset:
      - fides_key: shop
        collections:
          - name: customers
            fields:
              - {name: id, data_categories: [user.unique_id], fides_meta: {primary_key: true}}
              - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
              - {name: name, data_categories: [user.name]}
              - {name: phone, data_categories: [user.contact.phone_number]}
              - {name: created_at, data_categories: [system.operations]}
          - name: orders
            fides_meta: {masking_strategy_override: {strategy: delete}}
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: customer_id
                data_categories: [user.unique_id]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: placed_at, data_categories: [system.operations]}
              - {name: total, data_categories: [user.behavior.purchase_history]}
              - {name: note, data_categories: [user.content.private]}
          - name: order_lines
            fides_meta: {masking_strategy_override: {strategy: delete}}
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - name: order_id
                data_categories: [system.operations]
                fides_meta: {references: [{dataset: shop, field: orders.id, direction: from}]}
              - {name: sku, data_categories: [user.behavior.purchase_history]}
              - {name: quantity, data_categories: [system.operations]}
              - {name: gift_message, data_categories: [user.content.private]}
      - fides_key: marketing
        collections:
          - name: newsletter
            fides_meta: {masking_strategy_override: {strategy: delete}}
            fields:
              - {name: id, data_categories: [system.operations], fides_meta: {primary_key: true}}
              - {name: email, data_categories: [user.contact.email], fides_meta: {identity: email}}
              - name: customer_id
                data_categories: [user.unique_id]
                fides_meta: {references: [{dataset: shop, field: customers.id, direction: from}]}
              - {name: subscribed_at, data_categories: [system.operations]}
    """
)
DECLARATION = textwrap.dedent(
    """\
    policy_version: "1"
    effective: 2024-01-01
    organisation: {name: Bench Shop, contacts: [{kind: privacy, email: privacy@bench.test}]}
    data_sources:
      - id: checkout
        name: Checkout
        kind: order
        categories: [user.name, user.contact, user.behavior, user.content.private, user.unique_id]
    purposes:
      - id: orders
        name: Orders
        lawful_basis: contract
        categories: [user.name, user.contact, user.behavior, user.content.private, user.unique_id]
    rights: [{right: erasure, deadline: P1M}, {right: access, deadline: P1M}]
    """
)


def emit(bench: str, ours: float, peer: float, unit: str, ratio: float, **extra: Any) -> None:
    line = {
        "bench": bench,
        "ours": round(ours, 4),
        "peer": round(peer, 4),
        "unit": unit,
        "ratio": round(ratio, 3),
    }
    print(json.dumps({**line, **extra}), flush=True)


def url_for(name: str) -> str:
    """A database on the benchmark server; psycopg and the SQL connector both take this form."""
    return ADMIN.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://") + f"/{name}"


def build(names: dict[str, str], customers: int) -> None:
    with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
        for name in names.values():
            admin.execute(f"CREATE DATABASE {name}")
    for key, ddl in (("shop", SHOP_DDL), ("marketing", MARKETING_DDL)):
        with psycopg.connect(url_for(names[key]), autocommit=True) as conn:
            conn.execute(ddl.replace("{n}", str(int(customers))).encode())  # no parameters: sent as is


def template_names(customers: int) -> dict[str, str]:
    """Cached seeded databases: named after the size and the DDL, so a changed DDL rebuilds."""
    digest = hashlib.sha256((SHOP_DDL + MARKETING_DDL).encode()).hexdigest()[:8]
    return {key: f"pledge_bench_tpl_{key[:4]}_{int(customers)}_{digest}" for key in ("shop", "marketing")}


def build_from_cache(names: dict[str, str], customers: int) -> bool:
    """Copy the cached templates into ``names`` (building them first if absent); True if built."""
    templates = template_names(customers)
    with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
        present = {
            row[0]
            for row in admin.execute(
                "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(templates.values()),)
            )
        }
    built = len(present) < len(templates)
    if built:
        drop(templates)  # half a cache (an interrupted build) is rebuilt whole
        try:
            build(templates, customers)
        except BaseException:
            drop(templates)
            raise
    with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
        for key, name in names.items():
            admin.execute(f"CREATE DATABASE {name} TEMPLATE {templates[key]}")
    return built


def drop(names: dict[str, str]) -> None:
    with psycopg.connect(url_for("postgres"), autocommit=True) as admin:
        for name in names.values():
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- the peer: hand-written SQL -------------------------------------------------------------------


class Peer:
    def __init__(self, names: dict[str, str]) -> None:
        self.shop = psycopg.connect(url_for(names["shop"]))
        self.mkt = psycopg.connect(url_for(names["marketing"]))
        # Reads in autocommit, as psycopg's documentation suggests for read-only work (ours too).
        self.shop_reader = psycopg.connect(url_for(names["shop"]), autocommit=True)
        self.mkt_reader = psycopg.connect(url_for(names["marketing"]), autocommit=True)

    def close(self) -> None:
        for conn in (self.shop, self.mkt, self.shop_reader, self.mkt_reader):
            conn.close()

    def access(self, email: str) -> int:
        with self.shop_reader.cursor() as cur:
            cur.execute("SELECT id, email, name, phone, created_at FROM customers WHERE email = %s", (email,))
            customers = cur.fetchall()
            ids = [c[0] for c in customers]
            cur.execute(
                "SELECT id, customer_id, placed_at, total, note FROM orders WHERE customer_id = ANY(%s)",
                (ids,),
            )
            orders = cur.fetchall()
            cur.execute(
                "SELECT id, order_id, sku, quantity, gift_message FROM order_lines WHERE order_id = ANY(%s)",
                ([o[0] for o in orders],),
            )
            lines = cur.fetchall()
        with self.mkt_reader.cursor() as cur:
            cur.execute(
                "SELECT id, email, customer_id, subscribed_at FROM newsletter "
                "WHERE email = %s OR customer_id = ANY(%s)",
                (email, ids),
            )
            letters = cur.fetchall()
        return len(customers) + len(orders) + len(lines) + len(letters)

    def erase(self, emails: list[str], collection: Any) -> None:
        with self.shop.transaction(), self.shop.cursor() as cur:
            cur.execute("SELECT id, email, name FROM customers WHERE email = ANY(%s) FOR UPDATE", (emails,))
            people = cur.fetchall()
            ids = [p[0] for p in people]
            cur.execute("SELECT id FROM orders WHERE customer_id = ANY(%s)", (ids,))
            orders = [r[0] for r in cur.fetchall()]
            cur.execute("DELETE FROM order_lines WHERE order_id = ANY(%s)", (orders,))
            cur.execute("DELETE FROM orders WHERE id = ANY(%s)", (orders,))
            masked_emails = [
                mask_text(e, mask_seed(collection, ("email",), [i]), HASH_KEY) for i, e, _ in people
            ]
            masked_names = [
                mask_text(n, mask_seed(collection, ("name",), [i]), HASH_KEY) for i, _, n in people
            ]
            cur.execute(
                "UPDATE customers AS c SET email = u.email, name = u.name, phone = NULL "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u(id, email, name) WHERE c.id = u.id",
                (ids, masked_emails, masked_names),
            )
        with self.mkt.transaction(), self.mkt.cursor() as cur:
            cur.execute(
                "DELETE FROM newsletter WHERE email = ANY(%s) OR customer_id = ANY(%s)", (emails, ids)
            )


# --- measuring ----------------------------------------------------------------------------------


def bench_access(
    executor: RequestExecutor,
    connectors: dict[str, Any],
    peer: Peer,
    asked: list[str],
    workdir: Path,
) -> None:
    plan = executor.traversal(["email"])
    ours_rows: list[float] = []
    ours_full: list[float] = []
    peer_times: list[float] = []
    for i, email in enumerate(asked):
        ids = [Identity("email", email)]
        order = [0, 1, 2] if i % 2 else [2, 1, 0]  # alternate who goes first
        for side in order:
            t0 = time.perf_counter()
            if side == 0:
                found = traverse(plan, connectors, ids)
            elif side == 1:
                run_now(executor, "access", ids, workdir=workdir / str(i % 3))
            else:
                count = peer.access(email)
            elapsed = time.perf_counter() - t0
            if i >= 20:  # the first 20 warm caches and prepared statements
                (ours_rows, ours_full, peer_times)[side].append(elapsed)
        assert sum(len(r) for r in found.rows.values()) == count, "ours and the peer disagree"
    peer_ms = statistics.median(peer_times) * 1000
    full_ms = statistics.median(ours_full) * 1000
    rows_ms = statistics.median(ours_rows) * 1000
    emit("requests.access_archive", full_ms, peer_ms, "ms", peer_ms / full_ms, requests=len(ours_full))
    emit("requests.access", rows_ms, peer_ms, "ms", peer_ms / rows_ms, requests=len(ours_rows), goal=0.77)


def bench_erasure(
    executor: RequestExecutor,
    peer: Peer,
    collection: Any,
    batches: list[list[str]],
    rounds: int,
    workdir: Path,
) -> bool:
    """Three disjoint sets of people per round: ours verified, ours unverified, the peer's."""
    ours_erase: list[float] = []
    unverified: list[float] = []
    peer_erase: list[float] = []
    cpu: list[float] = []
    for round_ in range(rounds + 1):  # round 0 warms up every side
        mine, quick, theirs = batches[3 * round_ : 3 * round_ + 3]
        t0, c0 = time.perf_counter(), time.process_time()
        outcome = erase_subjects(executor, [Identity("email", e) for e in mine], workdir=workdir)
        ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
        if outcome["summary"]["verification"]["verified"] is not True:
            failed = {"error": "verification failed", "outcome": outcome["summary"]}
            print(json.dumps(failed, default=str), file=sys.stderr)
            return False
        t0 = time.perf_counter()
        erase_subjects(executor, [Identity("email", e) for e in quick], workdir=workdir, verify=False)
        quick_time = time.perf_counter() - t0
        t0 = time.perf_counter()
        peer.erase(theirs, collection)
        theirs_time = time.perf_counter() - t0
        if round_:
            ours_erase.append(ours)
            unverified.append(quick_time)
            peer_erase.append(theirs_time)
            cpu.append(ours_cpu)
    quick_s, ours_s, peer_s = (statistics.median(x) for x in (unverified, ours_erase, peer_erase))
    n = len(batches[0])
    emit(
        "requests.bulk_erasure_unverified",
        quick_s,
        peer_s,
        "s",
        peer_s / quick_s,
        subjects=n,
        note="ours without the verification pass, against the same peer (which never verifies)",
    )
    emit(
        "requests.bulk_erasure",
        ours_s,
        peer_s,
        "s",
        peer_s / ours_s,
        subjects=n,
        rows_deleted=outcome["summary"]["deleted"],
        rows_updated=outcome["summary"]["updated"],
        ours_cpu_s=round(statistics.median(cpu), 4),
        ours_unverified=round(quick_s, 4),
        ratio_unverified=round(peer_s / quick_s, 3),
        peer_verifies=False,
        note="headline: ours includes the verification pass (search again by every identity and key, "
        "check every kept field); the peer erases only and checks nothing. Ours erases collections that "
        "need not wait for each other, and runs the verification's searches, on several connections at "
        "once; the peer uses one connection per database, one statement after another",
        goal=0.7,
    )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=10_000, help="people per bulk erasure")
    parser.add_argument("--requests", type=int, default=300, help="access requests timed per side")
    parser.add_argument("--rounds", type=int, default=3, help="bulk erasures per side")
    parser.add_argument(
        "--reuse",
        action="store_true",
        default=os.environ.get("PLEDGE_BENCH_REUSE") == "1",
        help="keep the seeded databases as templates and copy them for each run",
    )
    parser.add_argument("--drop-cache", action="store_true", help="drop the cached templates and stop")
    parser.add_argument("--only", choices=("access", "erasure"), help="run one half of the benchmark")
    args = parser.parse_args()
    if args.drop_cache:
        drop(template_names(args.customers))
        return 0
    rng = random.Random(SEED)
    tag = uuid.uuid4().hex[:8]
    names = {"shop": f"pledge_bench_shop_{tag}", "marketing": f"pledge_bench_mkt_{tag}"}
    started = time.perf_counter()
    try:
        fresh = build_from_cache(names, args.customers) if args.reuse else True
        if not args.reuse:
            build(names, args.customers)
    except BaseException:
        drop(names)
        raise
    how = "built" if fresh else "copied from the cache"
    print(f"{how} {args.customers:,} subjects in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    connectors = {
        "shop": open_connector("shop", url_for(names["shop"])),
        "marketing": open_connector("marketing", url_for(names["marketing"])),
    }
    peer = Peer(names)
    try:
        declaration = parse_declaration(DECLARATION, "bench.yaml")
        datamap = parse_datamap([("bench.yaml", DATAMAP)], declaration=declaration)
        executor = RequestExecutor(datamap, connectors, declaration=declaration, hash_key=HASH_KEY)
        people = rng.sample(
            range(1, args.customers + 1), args.requests + 20 + args.subjects * 3 * (args.rounds + 1)
        )
        emails = [f"user{p}@example.com" for p in people]
        asked, spare = emails[: args.requests + 20], emails[args.requests + 20 :]

        with tempfile.TemporaryDirectory() as workdir:
            if args.only != "erasure":
                bench_access(executor, connectors, peer, asked, Path(workdir))
            if args.only != "access":
                collection = datamap.collection(("shop", "customers"))
                n = args.subjects
                batches = [spare[i * n : (i + 1) * n] for i in range(3 * (args.rounds + 1))]
                if not bench_erasure(executor, peer, collection, batches, args.rounds, Path(workdir)):
                    return 1
    finally:
        peer.close()
        for connector in connectors.values():
            connector.close()
        drop(names)
    print(f"total {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
