from __future__ import annotations

from pathlib import Path

import pytest

from pledge.declaration import load_declaration, parse_declaration
from pledge.errors import DeclarationError, Problem


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(DeclarationError) as caught:
        parse_declaration(text, "p.yaml")
    return list(caught.value.problems)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_minimal_declaration_loads(minimal_yaml: str) -> None:
    loaded = parse_declaration(minimal_yaml, "p.yaml")
    assert loaded.version == "1.0"
    assert loaded.declaration.purpose("newsletter") is not None
    assert len(loaded.digest) == 64
    assert not [w for w in loaded.warnings if w.severity == "error"]


def test_misspelt_category_is_located_with_suggestion(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("categories: [user.contact.email]\n", "categories: [user.contact.emial]\n")
    (problem,) = [p for p in problems_of(text) if p.code == "unknown_category"]
    line = line_of(text, "user.contact.emial")
    assert (problem.file, problem.line) == ("p.yaml", line)
    assert problem.column == text.splitlines()[line - 1].index("user.contact.emial") + 1
    assert problem.hint == "did you mean 'user.contact.email'?"


def test_yaml_syntax_error_is_located() -> None:
    (problem,) = problems_of("organisation:\n  name: [unclosed\npurposes: x\n")
    assert problem.file == "p.yaml"
    assert problem.line is not None and problem.line >= 2
    assert problem.code == "yaml"


def test_tabs_get_a_hint() -> None:
    (problem,) = problems_of("organisation:\n\tname: x\n")
    assert problem.line == 2
    assert problem.hint is not None


def test_duplicate_keys_are_errors(minimal_yaml: str) -> None:
    text = minimal_yaml.replace('policy_version: "1.0"\n', 'policy_version: "1.0"\npolicy_version: "2.0"\n')
    (problem,) = problems_of(text)
    assert "duplicate key 'policy_version'" in problem.message
    assert problem.line == 2


def test_unknown_field_suggests_the_right_one(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("    lawful_basis: contract", "    lawfull_basis: contract")
    found = problems_of(text)
    unknown = next(p for p in found if p.code == "unknown_field")
    assert unknown.hint == "did you mean 'lawful_basis'?"
    assert unknown.line == line_of(text, "lawfull_basis")
    assert any(p.code == "missing" and "lawful_basis" in p.message for p in found)


def test_bad_enum_value_lists_choices(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("lawful_basis: consent", "lawful_basis: consnet")
    (problem,) = problems_of(text)
    assert problem.code == "not_allowed"
    assert "legitimate_interest" in problem.message
    assert problem.hint == "did you mean 'consent'?"
    assert problem.line == line_of(text, "consnet")


def test_bad_duration_is_located(minimal_yaml: str) -> None:
    text = minimal_yaml.replace("deadline: P1M", "deadline: one month")
    (problem,) = problems_of(text)
    assert "ISO-8601" in problem.message
    assert problem.line == line_of(text, "one month")


def test_empty_and_non_mapping_files() -> None:
    assert problems_of("")[0].message == "the file is empty"
    assert "expected a mapping" in problems_of("- a\n- b\n")[0].message


def test_two_documents_are_refused(minimal_yaml: str) -> None:
    (problem,) = problems_of(minimal_yaml + "---\nfoo: 1\n")
    assert "more than one YAML document" in problem.message


def test_alias_bomb_fails_fast() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    found = problems_of("\n".join(lines) + "\n")
    assert "too many nodes" in found[0].message


def test_non_utf8_is_located() -> None:
    (problem,) = problems_of(
        b"organisation:\n  name: caf\xe9\n".decode("latin-1")
        .encode("latin-1")
        .decode("latin-1")
        .encode("latin-1")
    )  # type: ignore[arg-type]
    assert problem.code == "encoding"
    assert problem.line == 2


def test_python_tags_are_not_executed() -> None:
    found = problems_of("organisation: !!python/object/apply:os.system ['echo pwned']\n")
    assert found[0].code == "yaml"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="no such file"):
        load_declaration(tmp_path / "nope.yaml")
    with pytest.raises(DeclarationError, match="is a directory"):
        load_declaration(tmp_path)


def test_keys_with_brackets_are_still_located(minimal_yaml: str) -> None:
    # Regression (found by the fuzz test): pydantic-looking key names must not lose their location.
    text = minimal_yaml.replace("policy_version:", "pol[x]icy_version:")
    found = {p.code: p for p in problems_of(text)}
    assert found["unknown_field"].line == 1
    assert found["unknown_field"].hint == "did you mean 'policy_version'?"
