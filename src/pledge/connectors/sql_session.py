"""``SqlSession``: one transaction of a :class:`~pledge.connectors.sql.SqlConnector`.

Reads by many values at once, batched updates and deletes; how statements are written and
batched is told in :mod:`pledge.connectors.sql`'s docstring.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pledge.connectors.base import (
    NO_MATCH,
    Column,
    Row,
    RowChange,
    chunks,
    coerce,
    coerce_many,
    fold_text,
    read_each,
)
from pledge.errors import ConnectorError

if TYPE_CHECKING:
    from pledge.connectors.sql import SqlConnector

_OR_LIMIT = 1000
_LARGE_TABLE = 500_000
"""PostgreSQL: from this many rows (``pg_class.reltuples``), searches by many values are split
(see ``SqlSession._batch``)."""


class SqlSession:
    """One transaction of a :class:`SqlConnector`."""

    def __init__(self, connector: SqlConnector, dbapi: Any) -> None:
        self.c = connector
        self.dbapi = dbapi
        """The driver's own connection: statements go straight to it (see the module docstring)."""

    def _run(self, sql: str, params: Sequence[Any]) -> _Result:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql, tuple(params))
            rows = cursor.fetchall() if cursor.description is not None else []
            return _Result(rows, cursor.rowcount)
        finally:
            cursor.close()

    def _columns(self, table: str, names: Sequence[str]) -> list[Column]:
        schema = self.c.table(table)
        missing = [n for n in names if n not in schema.columns]
        if missing:
            raise ConnectorError(
                f"{self.c.key}: table '{table}' has no column {', '.join(map(repr, missing))}"
            )
        return [schema.columns[n] for n in names]

    def _select(
        self,
        table: str,
        selected: Sequence[str],
        conditions: Sequence[tuple[str, int]],
        tail: str,
        folded: frozenset[str] = frozenset(),
    ) -> str:
        """``SELECT … WHERE a = %s OR b = ANY(%s)`` (cached): a single value is compared with
        ``=`` (cheaper than a one-element array), several with ``= ANY`` on PostgreSQL or
        ``IN (…)`` elsewhere. A ``folded`` column compares ``lower(a) IN (lower(%s), …)``: the
        database lowers both sides alike, and an index on ``lower(a)`` serves it."""
        cache_key = (table, tuple(selected), tuple(conditions), tail, folded)
        sql = self.c._statements.get(cache_key)
        if sql is None:
            q = self.c.quote
            where = self._where(conditions, folded)
            sql = f"SELECT {', '.join(q(n) for n in selected)} FROM {q(table)} WHERE {where}{tail}"  # noqa: S608
            if len(self.c._statements) < 10_000:
                self.c._statements[cache_key] = sql
        return sql

    def _where(self, conditions: Sequence[tuple[str, int]], folded: frozenset[str]) -> str:
        q, mark = self.c.quote, self.c._mark
        tests = []
        for column, count in conditions:
            if column in folded:  # PostgreSQL needs the type: lower() also takes ranges
                value = f"lower(CAST({mark} AS TEXT))" if self.c._pg else f"lower({mark})"
                tests.append(f"lower({q(column)}) IN ({', '.join([value] * count)})")
            elif count == 1:
                tests.append(f"{q(column)} = {mark}")
            elif self.c._pg:
                tests.append(f"{q(column)} = ANY({mark})")
            else:
                tests.append(f"{q(column)} IN ({self.c.marks(count)})")
        return " OR ".join(tests)

    def _params(self, column: Column, part: Sequence[Any], *, each: bool = False) -> list[Any]:
        if len(part) == 1:
            return [self.c.bind(column, part[0])]
        if self.c._pg and not each:
            return [self.c.pg_array(column, part)]
        return [self.c.bind(column, v) for v in part]

    def _batch(self, table: str, column: Column, values: Sequence[Any]) -> int:
        """Values per ``= ANY`` array. PostgreSQL hashes a large array of the column's own type
        (text always: it arrives untyped and takes the column's; integers when psycopg's
        narrowest type is the column's), after which one sequential scan of a big table looks
        cheaper to its planner than ten thousand index probes; on a table of a million cached
        rows it is three to five times slower (0.3 s against 0.1 s for 10,000 e-mail
        addresses). Below a few thousand values the planner probes the index by itself, so on
        big tables such arrays hold about a thousandth of the table. Small tables, and arrays
        the planner cannot hash (it probes the index for those), get one statement: splitting
        would only repeat the planning, or the scan that is right for a small table."""
        c = self.c
        if not c._pg or not values:
            return c.batch
        if column.kind == "integer":
            from pledge.connectors.pgarrays import int_type

            if set(map(type, values)) != {int} or int_type(values) != column.type.lower():
                return c.batch
        elif column.kind != "string":
            return c.batch
        rows = c._sizes.get(table)
        if rows is None:
            name = '"' + table.replace('"', '""') + '"'  # a value here, not SQL text: no % doubling
            found = self._run("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [name]).rows
            rows = float(found[0][0]) if found and found[0][0] is not None else -1.0
            c._sizes[table] = rows
        if rows < _LARGE_TABLE:
            return c.batch
        return max(1000, int(rows) // 1000)

    def _native_fold(self, table: str, column: str) -> bool:
        """MariaDB/MySQL: does the column's collation already ignore case (``utf8mb4_general_ci``,
        the default)? Then a plain ``IN`` finds every case and uses the column's index."""
        if self.c.dialect not in ("mysql", "mariadb"):
            return False
        key = (table, column)
        if key not in self.c._collations:
            mark = self.c._mark
            sql = "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            sql += f"AND TABLE_NAME = {mark} AND COLUMN_NAME = {mark}"  # bound values, no names
            found = self._run(sql, [table, column]).rows
            self.c._collations[key] = bool(found) and str(found[0][0] or "").lower().endswith("_ci")
        return self.c._collations[key]

    def read(
        self,
        table: str,
        columns: Sequence[str],
        where: str,
        values: Sequence[Any],
        *,
        lock: bool = False,
        fold: bool = False,
    ) -> list[Row]:
        names = list(dict.fromkeys(columns))
        where_col = self._columns(table, [*names, where])[-1]
        wanted = coerce_many(where_col, values, nul_allowed=not self.c._pg)
        if not wanted:
            return []
        selected = names if where in names else [*names, where]
        tail = " FOR UPDATE" if lock and self.c.dialect != "sqlite" else ""
        exact = where_col.kind == "string"
        fold = fold and exact  # only text has a case
        in_sql = frozenset({where}) if fold and not self._native_fold(table, where) else frozenset()
        batch = 500 if in_sql else self._batch(table, where_col, wanted)  # IN: a parameter per value
        rows: list[Row] = []
        for part in chunks(wanted, batch):
            sql = self._select(table, selected, [(where, len(part))], tail, in_sql)
            found = [
                dict(zip(selected, record, strict=True))
                for record in self._run(sql, self._params(where_col, part, each=bool(in_sql)))
            ]
            if exact:
                # Exact matching whatever the collation (MariaDB's default ignores case and
                # trailing blanks): keep rows equal to a value of *this* chunk, so a row is
                # never returned twice either. Folded, "equal" ignores case, nothing else.
                if fold:
                    asked = {fold_text(v) for v in part}
                    found = [r for r in found if fold_text(r[where]) in asked]
                else:
                    asked = set(part)
                    found = [r for r in found if r[where] in asked]
            if where not in names:
                for r in found:
                    del r[where]
            rows.extend(found)
        return rows

    def read_keys(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        keys: Sequence[Sequence[Any]],
        *,
        lock: bool = False,
    ) -> list[Row]:
        """Rows whose primary key, all its columns (``key``), is one of ``keys``: a table keyed
        by (club, member) is read, and locked, by both, not by every row of the club. Values
        are coerced per column as ``read`` does (keys come back from JSON); callers compare the
        keys they asked for with those returned, as exactness in text is theirs to judge."""
        key_cols = self._columns(table, key)
        names = list(dict.fromkeys([*key, *columns]))
        self._columns(table, names)
        wanted: dict[tuple[Any, ...], None] = {}
        for raw in keys:
            typed = tuple(
                coerce(c, v, nul_allowed=not self.c._pg) for c, v in zip(key_cols, raw, strict=True)
            )
            if NO_MATCH not in typed:
                wanted.setdefault(typed, None)
        tail = " FOR UPDATE" if lock and self.c.dialect != "sqlite" else ""
        q = self.c.quote
        picked = ", ".join(q(n) for n in names)
        rows: list[Row] = []
        typed_keys = list(wanted)
        for part in chunks(typed_keys, self._key_batch(table, key_cols, typed_keys)):
            where, params = self._where_keys(key_cols, part)
            sql = f"SELECT {picked} FROM {q(table)} WHERE {where}{tail}"  # noqa: S608 (quoted, bound)
            rows.extend(dict(zip(names, record, strict=True)) for record in self._run(sql, params))
        return rows

    def exists(
        self,
        table: str,
        where: str,
        values: Sequence[Any],
        *,
        fold: bool = False,
        besides: tuple[str, Sequence[Any]] | None = None,
    ) -> bool:
        """Does a row have ``where`` equal to one of ``values`` — leaving out the rows whose
        ``besides[0]`` column (a primary key) is one of ``besides[1]``? Never "no" for a row
        ``read`` would return; may say "yes" for one it would not (a collation ignoring case), so
        callers read to find out which. An erasure's verification asks this of every value it
        searched: ``SELECT EXISTS (…)`` lets the planner, wanting a single row, probe the index
        (not scan the table, as it may for a 10,000-value ``ANY``), and no row is sent back."""
        where_col = self._columns(table, [where])[0]
        wanted = coerce_many(where_col, values, nul_allowed=not self.c._pg)
        if not wanted:
            return False
        fold = fold and where_col.kind == "string"
        in_sql = frozenset({where}) if fold and not self._native_fold(table, where) else frozenset()
        spared: list[Any] = []
        if besides is not None:
            spared_col = self._columns(table, [besides[0]])[0]
            spared = coerce_many(spared_col, besides[1])
        if spared and (not self.c._pg or in_sql):
            # Too many values for an IN list beside the others: read the keys and compare here
            # (a stored type the coercion does not reproduce only ever answers "yes").
            found = self.read(table, [spared_col.name], where, wanted, fold=fold)
            excluded = set(spared)
            return any(row[spared_col.name] not in excluded for row in found)
        q, mark = self.c.quote, self.c._mark
        batch = 500 if in_sql else self.c.batch
        for part in chunks(wanted, batch):
            test = self._where([(where, len(part))], in_sql)
            params = self._params(where_col, part, each=bool(in_sql))
            if spared:
                test = f"({test}) AND NOT ({q(spared_col.name)} = ANY({mark}))"
                params.append(self.c.pg_array(spared_col, spared))
            sql = f"SELECT EXISTS (SELECT 1 FROM {q(table)} WHERE {test})"  # noqa: S608 (quoted, bound)
            if self._run(sql, params).rows[0][0]:
                return True
        return False

    def read_any(
        self,
        table: str,
        columns: Sequence[str],
        where: Mapping[str, Sequence[Any]],
        *,
        fold: Collection[str] = (),
    ) -> list[Row]:
        if not self.c._pg or len(where) < 2 or fold:
            return read_each(self, table, columns, where, fold=fold)
        # PostgreSQL: one statement, "a = ANY(%s) OR b = ANY(%s)" (a BitmapOr over both indexes).
        names = list(dict.fromkeys(columns))
        cols = self._columns(table, list(where))
        wanted = {c.name: coerce_many(c, where[c.name], nul_allowed=False) for c in cols}
        wanted = {k: v for k, v in wanted.items() if v}
        if not wanted or sum(len(v) for v in wanted.values()) > _OR_LIMIT:
            # Thousands of values: separate index scans beat one bitmap OR over the table.
            return read_each(self, table, columns, wanted)
        selected = list(dict.fromkeys([*names, *wanted]))
        by_name = {c.name: c for c in cols}
        sql = self._select(table, selected, [(c, len(v)) for c, v in wanted.items()], "")
        params = [p for c, v in wanted.items() for p in self._params(by_name[c], v)]
        found = [dict(zip(selected, r, strict=True)) for r in self._run(sql, params)]
        # Keep rows equal to an asked value of some column (exact, as ``read`` does).
        asked = {column: set(values) for column, values in wanted.items()}
        found = [r for r in found if any(r[c] in asked[c] for c in asked)]
        extra = [c for c in selected if c not in names]
        for row in found:
            for column in extra:
                del row[column]
        return found

    def update(self, table: str, key: Sequence[str], changes: Sequence[RowChange]) -> int:
        if not changes:
            return 0
        schema = self.c.table(table)
        key_cols = self._columns(table, key)
        groups: dict[tuple[str, ...], list[RowChange]] = {}
        for change in changes:
            if change.values:
                groups.setdefault(tuple(sorted(change.values)), []).append(change)
        total = 0
        varied: list[RowChange] = []
        for names, group in groups.items():
            cols = [schema.columns[n] for n in names]
            first = group[0].values
            if all(_same(c.values, first) for c in group):
                total += self._update_constant(table, key_cols, cols, first, [c.key for c in group])
            elif self.c._pg:
                varied.extend(group)  # PostgreSQL: one statement for every column set, below
            else:
                total += self._update_case(table, key_cols, cols, group)
        if varied:
            union = sorted({n for change in varied for n in change.values})
            total += self._update_unnest(table, key_cols, [schema.columns[n] for n in union], varied)
        return total

    def _where_keys(
        self, key_cols: Sequence[Column], keys: Sequence[tuple[Any, ...]]
    ) -> tuple[str, list[Any]]:
        q, mark = self.c.quote, self.c._mark
        if len(key_cols) == 1:
            values = [self.c.bind(key_cols[0], k[0]) for k in keys]
            if self.c._pg:
                return f"{q(key_cols[0].name)} = ANY({mark})", [self.c.pg_array(key_cols[0], values)]
            return f"{q(key_cols[0].name)} IN ({self.c.marks(len(values))})", values
        tuple_mark = "(" + self.c.marks(len(key_cols)) + ")"
        names = ", ".join(q(c.name) for c in key_cols)
        params = [self.c.bind(col, part) for k in keys for col, part in zip(key_cols, k, strict=True)]
        return f"({names}) IN ({', '.join([tuple_mark] * len(keys))})", params

    def _key_batch(self, table: str, key_cols: Sequence[Column], keys: Sequence[tuple[Any, ...]]) -> int:
        if len(key_cols) > 1:
            return 300
        return self._batch(table, key_cols[0], [k[0] for k in keys])

    def _update_constant(
        self,
        table: str,
        key_cols: Sequence[Column],
        cols: Sequence[Column],
        values: Mapping[str, Any],
        keys: Sequence[tuple[Any, ...]],
    ) -> int:
        q, mark = self.c.quote, self.c._mark
        if self.c._pg:
            sets = ", ".join(f"{q(c.name)} = CAST({mark} AS {self.c.pg_type(c)})" for c in cols)
            set_params = [self.c.pg_text(values[c.name]) for c in cols]
        else:
            sets = ", ".join(f"{q(c.name)} = {mark}" for c in cols)
            set_params = [self.c.bind(c, values[c.name]) for c in cols]
        total = 0
        for part in chunks(keys, self._key_batch(table, key_cols, keys)):
            where, params = self._where_keys(key_cols, part)
            sql = f"UPDATE {q(table)} SET {sets} WHERE {where}"  # noqa: S608 (quoted names, bound values)
            total += self._run(sql, [*set_params, *params]).rowcount
        return total

    def _update_unnest(
        self, table: str, key_cols: Sequence[Column], cols: Sequence[Column], group: Sequence[RowChange]
    ) -> int:
        """``UPDATE … FROM unnest(keys, values, flags)``: each row sets only the columns its flag
        marks, so rows changing different columns share one statement."""
        q, mark, c = self.c.quote, self.c._mark, self.c
        aliases = (
            [f"k{i}" for i in range(len(key_cols))]
            + [f"v{i}" for i in range(len(cols))]
            + [f"f{i}" for i in range(len(cols))]
        )
        sets = ", ".join(
            f"{q(col.name)} = CASE WHEN u.f{i} THEN CAST(u.v{i} AS {c.pg_type(col)}) ELSE t.{q(col.name)} END"
            for i, col in enumerate(cols)
        )
        join = " AND ".join(
            f"t.{q(col.name)} = CAST(u.k{i} AS {c.pg_type(col)})" for i, col in enumerate(key_cols)
        )
        arrays = ", ".join(
            [f"CAST({mark} AS text[])"] * (len(key_cols) + len(cols))
            + [f"CAST({mark} AS boolean[])"] * len(cols)
        )
        sql = (
            f"UPDATE {q(table)} AS t SET {sets} "  # noqa: S608 (quoted names, bound values)
            f"FROM unnest({arrays}) AS u({', '.join(aliases)}) WHERE {join}"
        )
        from pledge.connectors.pgarrays import bool_array, text_array

        total = 0
        for part in chunks(group, c.batch):
            params = [text_array([c.pg_text(ch.key[i]) for ch in part]) for i in range(len(key_cols))]
            params += [text_array([c.pg_text(ch.values.get(col.name)) for ch in part]) for col in cols]
            params += [bool_array([col.name in ch.values for ch in part]) for col in cols]
            total += self._run(sql, params).rowcount
        return total

    def _update_case(
        self, table: str, key_cols: Sequence[Column], cols: Sequence[Column], group: Sequence[RowChange]
    ) -> int:
        q, mark, c = self.c.quote, self.c._mark, self.c
        match = " AND ".join(f"{q(k.name)} = {mark}" for k in key_cols)
        total = 0
        for part in chunks(group, 100):
            sets: list[str] = []
            params: list[Any] = []
            for col in cols:
                sets.append(
                    f"{q(col.name)} = CASE "
                    + " ".join([f"WHEN {match} THEN {mark}"] * len(part))
                    + f" ELSE {q(col.name)} END"
                )
                for ch in part:
                    params.extend(c.bind(k, v) for k, v in zip(key_cols, ch.key, strict=True))
                    params.append(c.bind(col, ch.values[col.name]))
            where, where_params = self._where_keys(key_cols, [ch.key for ch in part])
            total += self._run(
                f"UPDATE {q(table)} SET {', '.join(sets)} WHERE {where}",  # noqa: S608 (quoted, bound)
                [*params, *where_params],
            ).rowcount
        return total

    def delete(self, table: str, key: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> int:
        key_cols = self._columns(table, key)
        total = 0
        unique = list(dict.fromkeys(keys))
        for part in chunks(unique, self._key_batch(table, key_cols, unique)):
            where, params = self._where_keys(key_cols, part)
            sql = f"DELETE FROM {self.c.quote(table)} WHERE {where}"  # noqa: S608 (quoted names, bound values)
            total += self._run(sql, params).rowcount
        return total

    def try_delete(self, table: str, key: Sequence[str], keys: Sequence[tuple[Any, ...]]) -> int | None:
        """Delete, or change nothing and return None when a foreign key forbids it (some other
        row still points at one of these): one statement in the usual case, instead of first
        looking for referencing rows. Callers use it only when no foreign key cascades."""
        integrity = self.c.engine.dialect.loaded_dbapi.IntegrityError
        if self.c.dialect == "sqlite" and not self.dbapi.in_transaction:
            # sqlite3 opens transactions only before its own DML: a SAVEPOINT outside one would
            # become the transaction, and RELEASE would commit it early.
            self._run("BEGIN", [])
        self._run("SAVEPOINT pledge_delete", [])
        try:
            deleted = self.delete(table, key, keys)
        except integrity:
            self._run("ROLLBACK TO SAVEPOINT pledge_delete", [])
            return None
        self._run("RELEASE SAVEPOINT pledge_delete", [])
        return deleted


class _Result:
    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: Sequence[Sequence[Any]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Sequence[Any]]:
        return iter(self.rows)


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in b)
