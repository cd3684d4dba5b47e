"""YAML → plain Python objects, keeping the source position of every node.

PyYAML's ``compose`` gives a node tree with marks; we build the Python value ourselves so that every
mapping value, mapping key and sequence item gets an entry in a :class:`SourceMap` keyed by its
*path* (``("purposes", 2, "categories", 0)``). Validation errors from pydantic and from the
cross-checks carry such paths, which turns them into ``file:line:column`` messages.

Safety: only the safe constructors run (no arbitrary objects), duplicate keys are errors (PyYAML
silently keeps the last), and alias expansion is capped so a "billion laughs" file fails fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from pledge.errors import Problem

__all__ = ["Mark", "Path", "SourceMap", "YamlProblems", "load_yaml"]

Path = tuple[str | int, ...]

_MAX_NODES = 500_000
_PLAIN_COLLECTION_TAGS = frozenset(
    {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
)  # expanded nodes; far above any real declaration or datamap


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(slots=True)
class SourceMap:
    """Where each value (and each mapping key) of a loaded document came from."""

    file: str
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> Mark | None:
        """The mark of ``path``, or of its nearest ancestor that has one."""
        probe = tuple(path)
        while True:
            if key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return None
            probe = probe[:-1]

    def problem(
        self,
        path: Path,
        message: str,
        *,
        hint: str | None = None,
        key: bool = False,
        code: str = "invalid",
        severity: str = "error",
    ) -> Problem:
        mark = self.locate(path, key=key)
        return Problem(
            message,
            file=self.file,
            line=mark.line if mark else None,
            column=mark.column if mark else None,
            hint=hint,
            code=code,
            severity=severity,
        )


class YamlProblems(Exception):
    """Raised by :func:`load_yaml` with every located problem found while reading."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, source: SourceMap) -> None:
        self.loader = loader
        self.source = source
        self.problems: list[Problem] = []
        self.count = 0

    def _located(self, node: yaml.Node, message: str, hint: str | None = None) -> Problem:
        mark = _mark(node)
        return Problem(
            message, file=self.source.file, line=mark.line, column=mark.column, hint=hint, code="yaml"
        )

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise YamlProblems(
                [
                    self._located(
                        node,
                        "document expands to too many nodes",
                        "avoid deeply nested aliases (&anchor / *alias)",
                    )
                ]
            )
        self.source.values.setdefault(path, _mark(node))
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_COLLECTION_TAGS:
            self.problems.append(
                self._located(
                    node,
                    f"unsupported YAML tag '{node.tag}'",
                    "only plain mappings, lists and values are allowed",
                )
            )
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.loader.construct_object(node, deep=True)
            except yaml.constructor.ConstructorError as exc:
                self.problems.append(self._located(node, f"cannot read value: {exc.problem}"))
                return None
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        self.problems.append(self._located(node, "unsupported YAML node"))  # pragma: no cover
        return None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        try:
            self.loader.flatten_mapping(node)  # resolves `<<: *base` merge keys
        except yaml.constructor.ConstructorError as exc:
            self.problems.append(self._located(node, f"bad merge key: {exc.problem}"))
            return {}
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(self._located(key_node, "mapping keys must be plain text"))
                continue
            raw_key = self.loader.construct_object(key_node, deep=True)
            key = str(raw_key).lower() if isinstance(raw_key, bool) else str(raw_key)
            child = (*path, key)
            if key in out:
                first = self.source.keys.get(child)
                where = f" (first at line {first.line})" if first else ""
                self.problems.append(
                    self._located(
                        key_node, f"duplicate key '{key}'{where}", "each key may appear once in a mapping"
                    )
                )
                continue
            self.source.keys[child] = _mark(key_node)
            out[key] = self.build(value_node, child)
        return out


def load_yaml(text: str, filename: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document. Raises :class:`YamlProblems` with located problems."""
    source = SourceMap(file=filename)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise YamlProblems([_from_reader(exc, text, filename)]) from None
    try:
        try:
            node = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "expected a single document" in f"{exc.context} {exc.problem}":
                raise YamlProblems(
                    [
                        _from_marked(
                            exc,
                            filename,
                            "the file holds more than one YAML document",
                            "remove the extra '---' separator",
                        )
                    ]
                ) from None
            raise
        if node is None:
            raise YamlProblems(
                [
                    Problem(
                        "the file is empty",
                        file=filename,
                        line=1,
                        column=1,
                        hint="run `pledge init` for a starter file",
                        code="yaml",
                    )
                ]
            )
        builder = _Builder(loader, source)
        value = builder.build(node, ())
        if builder.problems:
            raise YamlProblems(builder.problems)
        return value, source
    except yaml.MarkedYAMLError as exc:
        raise YamlProblems([_from_marked(exc, filename)]) from None
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        raise YamlProblems([_from_reader(exc, text, filename)]) from None
    except RecursionError:
        raise YamlProblems(
            [Problem("the document is nested too deeply", file=filename, line=1, column=1, code="yaml")]
        ) from None
    finally:
        loader.dispose()


def _from_reader(exc: yaml.YAMLError, text: str, filename: str) -> Problem:
    """Reader errors (control characters) carry a character offset instead of a mark."""
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
    else:
        line, column = 1, 1
    character = getattr(exc, "character", None)
    what = f"character {character!r}" if character is not None else "a character"
    return Problem(
        f"not valid YAML: {what} is not allowed",
        file=filename,
        line=line,
        column=column,
        hint="remove control characters from the file",
        code="yaml",
    )


def _from_marked(
    exc: yaml.MarkedYAMLError, filename: str, message: str | None = None, hint: str | None = None
) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    text = message or "not valid YAML: " + " ".join(part for part in (exc.context, exc.problem) if part)
    if hint is None and exc.problem and "tab" in exc.problem:
        hint = "indent with spaces, not tabs"
    elif hint is None and exc.problem and "mapping values are not allowed" in exc.problem:
        hint = "a value containing ': ' must be quoted"
    elif hint is None:
        hint = "check the indentation and quoting around this position"
    return Problem(
        text,
        file=filename,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        hint=hint,
        code="yaml",
    )


def walk(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) pair of a loaded document, parents before children."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, (*path, index))
