"""Which declared cookie a ``Set-Cookie`` name is, compiled once from the declaration.

Declarations name cookies the way vendors document them: exact (``_gid``), with a glob
(``_ga_*``, ``__utm*``), or with a placeholder (``_ga_<container-id>``, ``_hj{id}``). Placeholders
and ``*`` both match any run of characters. Exact names win; among patterns the most specific
(most literal characters) wins, and a tie goes to the most restrictive category, so an ambiguous
name is never let through more easily than its strictest reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pledge.declaration.model import CookieCategory, Declaration

__all__ = ["CookieRule", "CookieRules"]

# How hard a category is to get into: used to break ties towards the stricter reading.
_STRICTNESS = {"strictly_necessary": 0, "preferences": 1, "analytics": 2, "advertising": 3}
_PLACEHOLDER = re.compile(r"<[^<>]*>|\{[^{}]*\}|\*+")


@dataclass(frozen=True, slots=True)
class CookieRule:
    pattern: str
    """The name as declared."""
    category: CookieCategory
    sale: bool = False
    """Set by a recipient whose receiving data counts as a sale (GPC opts out of it)."""
    provider: str = "first_party"


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: CookieRule
    regex: re.Pattern[str]
    literal: int


class CookieRules:
    """Declared cookies, indexed for matching response cookie names."""

    def __init__(self, rules: Iterable[CookieRule]) -> None:
        self._exact: dict[str, CookieRule] = {}
        patterns: list[_Compiled] = []
        for rule in rules:
            if _PLACEHOLDER.search(rule.pattern) is None:
                current = self._exact.get(rule.pattern)
                if current is None or _stricter(rule, current):
                    self._exact[rule.pattern] = rule
                continue
            pieces = _PLACEHOLDER.split(rule.pattern)
            regex = re.compile(".*".join(re.escape(piece) for piece in pieces), re.DOTALL)
            patterns.append(_Compiled(rule, regex, sum(len(piece) for piece in pieces)))
        # Most specific first; equal specificity → strictest first, so the first match decides.
        patterns.sort(key=lambda c: (-c.literal, -_STRICTNESS[c.rule.category]))
        self._patterns = tuple(patterns)

    @classmethod
    def from_declaration(cls, declaration: Declaration) -> CookieRules:
        rules = []
        for cookie in declaration.cookies:
            if cookie.kind != "cookie":
                continue  # local storage, pixels and SDK ids never arrive as Set-Cookie
            recipient = declaration.recipient(cookie.provider)
            sale = recipient is not None and recipient.sale
            rules.append(CookieRule(cookie.name, cookie.category, sale, cookie.provider))
        return cls(rules)

    def match(self, name: str) -> CookieRule | None:
        """The declared cookie ``name`` is, or ``None`` when it was never declared."""
        exact = self._exact.get(name)
        if exact is not None:
            return exact
        for compiled in self._patterns:
            if compiled.regex.fullmatch(name):
                return compiled.rule
        return None

    def __len__(self) -> int:
        return len(self._exact) + len(self._patterns)


def _stricter(a: CookieRule, b: CookieRule) -> bool:
    return (_STRICTNESS[a.category], a.sale) > (_STRICTNESS[b.category], b.sale)
