"""What erasure does to each field, and the value rewrites themselves.

Resolution order for one mapped field holding personal data (a category under ``user``):

1. a declaration ``legal_holds`` entry covering one of its categories in this collection (see
   :mod:`pledge.requests.holds`) → **keep** (which law, until when);
2. ``read_only`` in the datamap → **keep**; part of the primary key → **keep**;
3. the datamap's ``masking_strategy_override`` (field, then collection), else the declaration's
   ``erasure`` rule for the most specific matching category;
4. without configuration: **null** when the column accepts NULL, **mask** for a NOT NULL text
   column, else **keep** (a NOT NULL number, date or key has no erased form), with the reason.

A configured strategy the column cannot take (``hash`` on an integer) falls back to that default,
and the report says so. Every rewrite is a fixed point, so running an erasure twice changes
nothing the second time: ``mask`` derives its characters from the row's key and the value's shape
(which masking keeps), and ``hash`` marks its output (``h$…``) and never hashes a marked value.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pledge.connectors.base import Column, Table
from pledge.datamap.model import Collection, Field, Strategy
from pledge.declaration.model import Declaration, LegalHold
from pledge.declaration.taxonomy import is_within
from pledge.requests.holds import HoldScopes, hold_for, scope_note

__all__ = [
    "CollectionErasure",
    "FieldAction",
    "hash_text",
    "is_hashed",
    "mask_many",
    "mask_text",
    "personal",
    "resolve_collection",
    "seed_prefix",
]

_HASHED = re.compile(r"^h\$[0-9a-f]{16,64}$")
_MIN_HASH = 16
_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_DEFAULT_MASK_KEY = b"pledge-mask"  # masks depend on the row key, not the value: secrecy adds little


def personal(f: Field) -> bool:
    return any(is_within(c, "user") for c in f.categories)


@dataclass(frozen=True, slots=True)
class FieldAction:
    path: tuple[str, ...]
    strategy: Strategy
    reason: str
    categories: tuple[str, ...]
    fallback: Strategy = "keep"
    """What to do instead when the row cannot be deleted after all (``delete_row`` only)."""
    hold: LegalHold | None = None

    @property
    def label(self) -> str:
        return ".".join(self.path)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.label, "strategy": self.strategy, "reason": self.reason}
        if self.hold is not None:
            out["legal_hold"] = {"id": self.hold.id, "law": self.hold.law, "period": str(self.hold.period)}
            if self.hold.start:
                out["legal_hold"]["from"] = self.hold.start
        return out


@dataclass(frozen=True)
class CollectionErasure:
    collection: Collection
    actions: tuple[FieldAction, ...]
    delete_row: bool
    why: str
    """Why rows are deleted, or why they are not although something asked for it."""

    def action(self, path: Sequence[str]) -> FieldAction | None:
        wanted = tuple(path)
        return next((a for a in self.actions if a.path == wanted), None)


# --- value rewrites -----------------------------------------------------------------------------


def _translated(table: Callable[[int], int]) -> bytes:
    return bytes(table(b) for b in range(256))


_IPAD = _translated(lambda b: b ^ 0x36)
_OPAD = _translated(lambda b: b ^ 0x5C)


@functools.lru_cache(maxsize=16)
def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's keyed inner and outer states (RFC 2104), computed once per key: copying
    them costs a quarter of a fresh ``hmac.digest`` (which re-derives both on every call)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def _hmac(key: bytes, message: bytes) -> bytes:
    inner_pad, outer_pad = _hmac_pads(key)
    inner = inner_pad.copy()
    inner.update(message)
    outer = outer_pad.copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest


def _stream(key: bytes, seed: str, size: int) -> bytes:
    """``size`` pseudo-random bytes for ``seed``: HMAC-SHA256 blocks in counter mode."""
    material = seed.encode("utf-8", "surrogatepass") + b"\x1f"
    out = _hmac(key, material + b"0")
    counter = 1
    while len(out) < size:
        out += _hmac(key, material + str(counter).encode())
        counter += 1
    return out


_CLASSES = _translated(
    lambda i: 1 if chr(i).isdigit() else 2 if chr(i).islower() else 3 if chr(i).isupper() else 0
)
"""Each ASCII byte's class: 0 other (kept), 1 digit, 2 lower-case letter, 3 upper-case letter."""
_PICKS = (
    _translated(lambda b: b),
    _translated(lambda b: ord(_DIGITS[b % 10])),
    _translated(lambda b: ord(_LETTERS[b % 26])),
    _translated(lambda b: ord(_LETTERS[b % 26].upper())),
)
"""Per class, the character a stream byte becomes (class 0 keeps the value's own byte)."""
_SELECT = tuple(bytes(0xFF if k == c else 0 for k in range(256)) for c in range(4))
"""Per class, a byte mask: 0xFF where a position is of that class."""


def mask_text(value: str, seed: str, key: bytes | None = None) -> str:
    """Rewrite letters and digits, keeping length, case and punctuation (``a.b@c.de`` stays
    shaped like an address). Depends only on ``seed`` (the row) and the value's shape, so
    ``mask_text(mask_text(v)) == mask_text(v)``."""
    stream = _stream(key or _DEFAULT_MASK_KEY, seed, len(value))
    if value.isascii():
        data = value.encode("ascii")
        return _pick(data, stream[: len(data)]).decode("ascii")
    return _mask_unicode(value, stream)


def _pick(data: bytes, stream: bytes) -> bytes:
    """The ASCII mask of ``data`` with ``stream`` (as long): no Python step per character.
    Translate the stream into digits, lower- and upper-case letters, then pick per position by
    class with big-integer AND/OR over byte masks. Positions are independent, so many values
    joined end to end are masked in one call (see :func:`mask_many`)."""
    kinds = data.translate(_CLASSES)
    number = int.from_bytes(data) & int.from_bytes(kinds.translate(_SELECT[0]))
    for kind in (1, 2, 3):
        number |= int.from_bytes(stream.translate(_PICKS[kind])) & int.from_bytes(
            kinds.translate(_SELECT[kind])
        )
    return number.to_bytes(len(data))


def mask_many(values: Sequence[str], seeds: Sequence[str], key: bytes | None = None) -> list[str]:
    """``[mask_text(v, s, key) for v, s in zip(values, seeds)]``, the ASCII ones picked in one
    pass over all of them joined (a bulk erasure masks tens of thousands of addresses and names:
    the per-value work left is the HMAC of its seed)."""
    out: list[str] = list(values)
    at: list[int] = []
    datas: list[bytes] = []
    streams: list[bytes] = []
    mask_key = key or _DEFAULT_MASK_KEY
    for i, (value, seed) in enumerate(zip(values, seeds, strict=True)):
        if value.isascii():
            data = value.encode("ascii")
            at.append(i)
            datas.append(data)
            streams.append(_stream(mask_key, seed, len(data))[: len(data)])
        else:
            out[i] = _mask_unicode(value, _stream(mask_key, seed, len(value)))
    if datas:
        masked = _pick(b"".join(datas), b"".join(streams)).decode("ascii")
        start = 0
        for i, data in zip(at, datas, strict=True):
            end = start + len(data)
            out[i] = masked[start:end]
            start = end
    return out


def _mask_unicode(value: str, stream: bytes) -> str:
    out: list[str] = []
    for char, byte in zip(value, stream, strict=False):
        if char.isdigit():
            out.append(_DIGITS[byte % 10])
        elif char.isalpha():
            letter = _LETTERS[byte % 26]
            out.append(letter.upper() if char.isupper() else letter)
        else:
            out.append(char)
    return "".join(out)


def is_hashed(value: Any) -> bool:
    return isinstance(value, str) and bool(_HASHED.match(value))


def hash_text(value: str, key: bytes, length: int | None = None) -> str:
    """``h$`` + hex of HMAC-SHA256(key, value), cut to fit ``length``; a marked value is kept."""
    if is_hashed(value):
        return value
    digest = _hmac(key, value.encode("utf-8", "surrogatepass")).hex()
    room = 64 if length is None else min(64, length - 2)
    return "h$" + digest[:room]


def mask_seed(collection: Collection, path: Sequence[str], row_key: Sequence[Any]) -> str:
    """What a mask derives from: the row (its key) and the field, never the value."""
    return seed_prefix(collection, path) + "\x1e".join(map(str, row_key))


def seed_prefix(collection: Collection, path: Sequence[str]) -> str:
    """The part of :func:`mask_seed` shared by every row: built once per field, not per value."""
    joined = "\x1e".join(map(str, path))
    return f"{collection.dataset}\x1f{collection.name}\x1f{joined}\x1f"


# --- resolution ---------------------------------------------------------------------------------


def _rule(declaration: Declaration | None, categories: Sequence[str]) -> tuple[Strategy, str] | None:
    if declaration is None:
        return None
    best: tuple[int, Strategy, str] | None = None
    rank = {"delete_row": 3, "hash": 2, "mask": 1, "null": 0}
    for rule in declaration.erasure:
        for ruled in rule.categories:
            for category in categories:
                if is_within(category, ruled):
                    depth = ruled.count(".")
                    if best is None or (depth, rank[rule.strategy]) > (best[0], rank[best[1]]):
                        best = (depth, rule.strategy, ruled)
    if best is None:
        return None
    return best[1], f"declaration erasure rule for {best[2]}"


def _column_facts(f: Field, table: Table) -> tuple[bool, bool, str]:
    """(nullable, text, type name) of the field — a key inside a JSON document can be null or text."""
    if f.nested:
        return True, True, "JSON value"
    column: Column = table.columns[f.column]
    return column.nullable, column.kind == "string", column.type


def _fits(strategy: Strategy, f: Field, table: Table, hash_key: bool) -> str | None:
    """Why ``strategy`` cannot apply to this field (None: it can)."""
    nullable, text, type_name = _column_facts(f, table)
    if strategy == "null" and not nullable:
        return "the column is NOT NULL"
    if strategy in ("mask", "hash") and not text:
        return f"the column is {type_name}, not text"
    if strategy == "hash":
        if not hash_key:
            return "no hash key is configured"
        length = None if f.nested else table.columns[f.column].length
        if length is not None and length - 2 < _MIN_HASH:
            return f"the column holds only {length} characters"
    if strategy in ("mask", "hash") and not f.nested:
        child_side = any(f.column in fk.columns for fk in table.foreign_keys)
        parent_side = any(f.column in fk.target_columns for fk in table.referenced_by)
        if child_side or parent_side:
            return "it is part of a foreign key (rewriting it would break the link)"
    return None


def _default(f: Field, table: Table) -> tuple[Strategy, str]:
    nullable, text, type_name = _column_facts(f, table)
    if nullable:
        return "null", "default: the column accepts NULL"
    if text:
        problem = _fits("mask", f, table, False)
        if problem is None:
            return "mask", "default: NOT NULL text column, masked keeping its format"
        return "keep", f"NOT NULL text column and {problem}: kept"
    return (
        "keep",
        f"NOT NULL {type_name} column: it has no erased form (kept, not personal once the rest is erased)",
    )


def _resolve_field(
    f: Field,
    collection: Collection,
    table: Table,
    key: Sequence[str],
    declaration: Declaration | None,
    hash_key: bool,
    scopes: HoldScopes,
) -> FieldAction:
    hold = hold_for(declaration, scopes, collection.ref, f.categories)
    if hold is not None:
        until = f"{hold.period.describe()} from {hold.start}" if hold.start else hold.period.describe()
        return FieldAction(
            f.path,
            "keep",
            f"legal hold '{hold.id}': {hold.law} requires keeping it for {until}{scope_note(hold, scopes)}",
            f.categories,
            hold=hold,
        )
    if f.read_only:
        return FieldAction(f.path, "keep", "read_only in the datamap: never written", f.categories)
    if not f.nested and f.column in key:
        return FieldAction(
            f.path,
            "keep",
            "primary key: identifies the row; not personal once the rest is erased",
            f.categories,
        )
    wanted: tuple[Strategy, str] | None = None
    if f.masking is not None:
        wanted = (f.masking.strategy, f"datamap override ({f.masking.fides_name}) at {f.masking.origin}")
    elif collection.masking is not None:
        wanted = ("delete_row", f"collection override ({collection.masking.fides_name})")
    else:
        wanted = _rule(declaration, f.categories)
    default, default_why = _default(f, table)
    if wanted is None:
        return FieldAction(f.path, default, default_why, f.categories)
    strategy, why = wanted
    if strategy == "delete_row":
        return FieldAction(f.path, "delete_row", why, f.categories, fallback=default)
    problem = _fits(strategy, f, table, hash_key)
    if problem is None:
        return FieldAction(f.path, strategy, why, f.categories)
    return FieldAction(
        f.path, default, f"{why} asks for {strategy}, but {problem}; {default_why}", f.categories
    )


def resolve_collection(
    collection: Collection,
    table: Table,
    key: Sequence[str],
    declaration: Declaration | None,
    *,
    hash_key: bool,
    categories: Sequence[str] | None = None,
    scopes: HoldScopes | None = None,
) -> CollectionErasure:
    """Decide, field by field, what erasing a person's rows of ``collection`` does."""
    actions: list[FieldAction] = []
    outside: list[Field] = []
    """Personal fields the request does not erase (``categories``): deleting the row would."""
    for f in collection.all_fields():
        if f.fields or not personal(f):
            continue  # containers are handled through their leaves; system data is not erased
        if categories is not None and not any(
            is_within(c, want) for c in f.categories for want in categories
        ):
            if f.nested or f.column not in key:  # a key column goes with the row, as in a full erasure
                outside.append(f)
            continue
        actions.append(_resolve_field(f, collection, table, key, declaration, hash_key, scopes or {}))
    asked = [a for a in actions if a.strategy == "delete_row"]
    blockers = [a for a in actions if a.hold is not None or "read_only" in a.reason]
    if asked and not key:
        why = "rows would be deleted, but the table has no primary key to name them by"
    elif asked and blockers:
        why = f"rows are kept, not deleted: {blockers[0].label} must be kept ({blockers[0].reason})"
    elif asked and outside:
        # Erasing some categories must leave the others (and whatever a legal hold keeps among
        # them) in place: deleting the row would erase them too.
        first = outside[0]
        why = (
            f"rows are kept, not deleted: {'.'.join(first.path)} ({', '.join(first.categories)}) "
            "is not among the categories erased"
        )
    elif asked:
        return CollectionErasure(collection, tuple(actions), True, asked[0].reason)
    else:
        return CollectionErasure(collection, tuple(actions), False, "")
    # The row stays: every field that asked for deletion gets its column's default instead.
    actions = [
        replace(a, strategy=a.fallback, reason=f"{a.reason}; {why}") if a.strategy == "delete_row" else a
        for a in actions
    ]
    return CollectionErasure(collection, tuple(actions), False, why)


_MASKED_LIMIT = 200_000
_masked: dict[tuple[bytes | None, str, str], None] = {}
_masked_lock = threading.Lock()


def _remember_mask(key: bytes | None, seed: str, masked: str) -> None:
    """Note that ``masked`` is what ``mask_text`` leaves for ``seed`` (and so a fixed point of it)."""
    entry = (key, seed, masked)
    if entry in _masked:
        return
    with _masked_lock:
        if len(_masked) >= _MASKED_LIMIT:
            # Forget the older half: a bulk erasure checks its own writes, just made.
            for old in list(_masked)[: _MASKED_LIMIT // 2]:
                _masked.pop(old, None)
        _masked[entry] = None


def erased_value(
    action: FieldAction, value: Any, seed: str, *, hash_key: bytes | None, length: int | None
) -> Any:
    """The value ``action`` leaves in place of ``value`` (equal to it when nothing changes)."""
    strategy = action.strategy
    if value is None or strategy in ("keep", "delete_row"):
        return value
    if strategy == "null":
        return None
    if not isinstance(value, str):
        return value  # a JSON number or list where text was expected: left for the report
    if strategy == "mask":
        masked = mask_text(value, seed, hash_key)
        _remember_mask(hash_key, seed, masked)
        return masked
    assert hash_key is not None
    return hash_text(value, hash_key, length)


def erased_masks(values: Sequence[str], seeds: Sequence[str], *, hash_key: bytes | None) -> list[str]:
    """:func:`erased_value` of many text values under ``mask`` at once (see :func:`mask_many`)."""
    masked = mask_many(values, seeds, hash_key)
    for seed, value in zip(seeds, masked, strict=True):
        _remember_mask(hash_key, seed, value)
    return masked


def is_erased(action: FieldAction, value: Any, seed: str, *, hash_key: bytes | None) -> bool:
    """True when ``value`` is what erasure leaves (the verification pass asks this).

    A mask is recognised as a fixed point: masking it again changes nothing. When this process
    has just computed that very mask for this row and field (the erase pass before the
    verification), the answer is known without masking again: ``mask_text`` of its own output
    is its output (see :func:`mask_text`), so the memo gives exactly the same answer. The value
    compared is still the one read back from the database."""
    if value is None:
        return True
    if action.strategy == "mask":
        if not isinstance(value, str):
            return False
        if (hash_key, seed, value) in _masked:
            return True
        return mask_text(value, seed, hash_key) == value
    if action.strategy == "hash":
        return is_hashed(value)
    return False
