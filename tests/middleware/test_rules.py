from __future__ import annotations

import pytest

from pledge.declaration import LoadedDeclaration
from pledge.middleware import CookieRule, CookieRules


@pytest.mark.parametrize(
    ("name", "category", "sale"),
    [
        ("session", "strictly_necessary", False),
        ("theme", "preferences", False),
        ("_stats", "analytics", False),
        ("_ga_ABC123", "analytics", False),
        ("_ga_", "analytics", False),
        ("ad_spring-sale", "advertising", True),
        ("_fbp", "advertising", True),
    ],
)
def test_declared_names_and_patterns_match(
    site: LoadedDeclaration, name: str, category: str, sale: bool
) -> None:
    rule = CookieRules.from_declaration(site.declaration).match(name)
    assert rule is not None
    assert (rule.category, rule.sale) == (category, sale)


@pytest.mark.parametrize("name", ["Session", "_ga", "x_ga_1", "_stats2", "prefs_store", "ad", ""])
def test_other_names_are_undeclared(site: LoadedDeclaration, name: str) -> None:
    # prefs_store is declared as local storage: a Set-Cookie of that name is not that item.
    assert CookieRules.from_declaration(site.declaration).match(name) is None


def test_exact_beats_pattern_and_specific_beats_general() -> None:
    rules = CookieRules(
        [
            CookieRule("_ga*", "advertising"),
            CookieRule("_ga_*", "analytics"),
            CookieRule("_ga_keep", "strictly_necessary"),
        ]
    )
    assert rules.match("_ga_keep").category == "strictly_necessary"  # type: ignore[union-attr]
    assert rules.match("_ga_other").category == "analytics"  # type: ignore[union-attr]
    assert rules.match("_gax").category == "advertising"  # type: ignore[union-attr]


def test_ties_go_to_the_strictest_reading() -> None:
    rules = CookieRules(
        [
            CookieRule("x_*", "preferences"),
            CookieRule("*_y", "advertising"),
            CookieRule("dup", "analytics"),
            CookieRule("dup", "preferences"),
        ]
    )
    assert rules.match("x_y").category == "advertising"  # type: ignore[union-attr]
    assert rules.match("dup").category == "analytics"  # type: ignore[union-attr]


def test_regex_characters_in_names_are_literal() -> None:
    rules = CookieRules([CookieRule("a.b+c", "analytics"), CookieRule("(x)|{id}", "analytics")])
    assert rules.match("a.b+c") is not None
    assert rules.match("aXb+c") is None
    assert rules.match("(x)|42") is not None
    assert rules.match("x") is None
