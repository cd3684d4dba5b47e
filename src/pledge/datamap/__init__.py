"""The datamap: where personal data lives, as Fides dataset YAML read unchanged.

    load_datamap(["shop.yaml", "marketing.yaml"], declaration=loaded) -> Datamap

Raises :class:`pledge.errors.DatamapError` listing every problem at its ``file:line:column``.
Connection URLs are never part of a datamap: they come from configuration or ``--connect``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from pledge.datamap.check import check_datasets, reachable, search_edges
from pledge.datamap.model import (
    Collection,
    CollectionRef,
    Datamap,
    Dataset,
    Field,
    FieldRef,
    MaskingOverride,
    Origin,
    Reference,
    Strategy,
)
from pledge.datamap.parse import STRATEGY_NAMES, parse_datasets
from pledge.declaration.load import LoadedDeclaration
from pledge.errors import DatamapError, Problem

__all__ = [
    "STRATEGY_NAMES",
    "Collection",
    "CollectionRef",
    "Datamap",
    "Dataset",
    "Field",
    "FieldRef",
    "MaskingOverride",
    "Origin",
    "Reference",
    "Strategy",
    "load_datamap",
    "parse_datamap",
    "reachable",
    "search_edges",
]


def parse_datamap(
    files: Iterable[tuple[str, bytes | str]], *, declaration: LoadedDeclaration | None = None
) -> Datamap:
    """Build a datamap from ``(filename, text)`` pairs; raises ``DatamapError`` on any error."""
    datasets: list[Dataset] = []
    problems: list[Problem] = []
    for filename, text in files:
        found, file_problems, _source = parse_datasets(text, filename)
        datasets.extend(found)
        problems.extend(file_problems)
    if not any(p.severity == "error" for p in problems):
        problems.extend(check_datasets(datasets, declaration))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DatamapError(f"datamap has {len(errors)} problem(s)", problems=problems)
    if not datasets:
        raise DatamapError("the datamap defines no dataset", hint="pass a Fides dataset file with --datamap")
    return Datamap(tuple(datasets), warnings=tuple(problems))


def load_datamap(paths: Sequence[str | Path], *, declaration: LoadedDeclaration | None = None) -> Datamap:
    """Read Fides dataset files (a folder reads every ``*.yml``/``*.yaml`` in it)."""
    files: list[tuple[str, bytes | str]] = []
    for path in paths:
        target = Path(path)
        if target.is_dir():
            members = sorted([*target.glob("*.yml"), *target.glob("*.yaml")])
            if not members:
                raise DatamapError(f"{target}: folder holds no .yml or .yaml file")
        else:
            members = [target]
        for member in members:
            try:
                files.append((str(member), member.read_bytes()))
            except FileNotFoundError:
                raise DatamapError(f"{member}: no such file", hint="check the --datamap path") from None
            except OSError as exc:
                raise DatamapError(f"{member}: cannot read ({exc.strerror})") from None
    if not files:
        raise DatamapError("no datamap given", hint="pass a Fides dataset file with --datamap PATH")
    return parse_datamap(files, declaration=declaration)
