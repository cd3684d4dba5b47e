"""Array parameters for PostgreSQL, written as array text in one pass.

psycopg adapts a Python list element by element in Python (a type lookup and a quoting test per
value); a bulk erasure sends a dozen arrays of 10,000 keys or addresses, and that adaptation
costs more than building the whole literal with ``str.join``. These wrappers carry the finished
text, and their dumpers (registered on psycopg's global adapters, for these classes only) pass it
through. The result is the same parameter psycopg would send: integers in the narrowest of ``int2[]``,
``int4[]``, ``int8[]`` holding them all, text untyped (``unknown``), so the server gives it the
compared column's array type. The type matters beyond correctness: PostgreSQL plans
``bigint_col = ANY(int8[])`` differently from ``= ANY(int4[])`` (the first can be hashed, which
makes a sequential scan of a million rows look cheaper than ten thousand index probes, and
it is not), so the parameters keep the types the planner has always been given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types

__all__ = [
    "Int2Array",
    "Int4Array",
    "IntArray",
    "TextArray",
    "bool_array",
    "int_array",
    "int_type",
    "text_array",
]


class _ArrayText:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text[:40]!r}…)"


class IntArray(_ArrayText):
    """An ``int8[]`` parameter."""


class Int4Array(IntArray):
    """An ``int4[]`` parameter."""


class Int2Array(IntArray):
    """An ``int2[]`` parameter."""


class TextArray(_ArrayText):
    """An array parameter of untyped elements (text, or ``t``/``f`` for a cast to boolean[])."""


class _IntArrayDumper(Dumper):
    oid = pg_types["int8"].array_oid

    def dump(self, obj: Any) -> bytes:
        return obj.text.encode("ascii")  # type: ignore[no-any-return]


class _Int4ArrayDumper(_IntArrayDumper):
    oid = pg_types["int4"].array_oid


class _Int2ArrayDumper(_IntArrayDumper):
    oid = pg_types["int2"].array_oid


class _TextArrayDumper(Dumper):
    oid = 0  # unknown: as psycopg sends a list of str

    def __init__(self, cls: type, context: Any = None) -> None:
        super().__init__(cls, context)
        connection = self.connection
        self._encoding = connection.info.encoding if connection is not None else "utf-8"

    def dump(self, obj: Any) -> bytes:
        return obj.text.encode(self._encoding)  # type: ignore[no-any-return]


psycopg.adapters.register_dumper(IntArray, _IntArrayDumper)
psycopg.adapters.register_dumper(Int4Array, _Int4ArrayDumper)
psycopg.adapters.register_dumper(Int2Array, _Int2ArrayDumper)
psycopg.adapters.register_dumper(TextArray, _TextArrayDumper)


def int_type(values: Sequence[int]) -> str:
    """The element type psycopg gives a list of these ints: the narrowest that holds them all."""
    low, high = min(values), max(values)
    if low >= -(2**15) and high < 2**15:
        return "smallint"
    if low >= -(2**31) and high < 2**31:
        return "integer"
    return "bigint"


_INT_ARRAYS = {"smallint": Int2Array, "integer": Int4Array, "bigint": IntArray}


def int_array(values: Sequence[int]) -> IntArray | TextArray:
    """Python ints (never bools) within the int8 range, typed as psycopg types a list of them."""
    if not values:
        return TextArray("{}")
    return _INT_ARRAYS[int_type(values)]("{" + ",".join(map(str, values)) + "}")


def _quoted(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text_array(values: Sequence[str | None]) -> TextArray:
    """Every element quoted (so ``NULL``, blanks, commas and braces inside stay text); ``None``
    is SQL NULL. Text holding NUL cannot be sent to PostgreSQL at all (callers rule it out)."""
    if not values:
        return TextArray("{}")
    try:
        joined = "".join(values)  # type: ignore[arg-type]
    except TypeError:  # a None among them
        return TextArray("{" + ",".join(map(_quoted, values)) + "}")
    if '"' in joined or "\\" in joined:
        return TextArray("{" + ",".join(map(_quoted, values)) + "}")
    return TextArray('{"' + '","'.join(values) + '"}')  # type: ignore[arg-type]


def bool_array(values: Sequence[bool]) -> TextArray:
    """For ``CAST(%s AS boolean[])``."""
    return TextArray("{" + ",".join("t" if v else "f" for v in values) + "}")
