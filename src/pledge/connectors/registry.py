"""Finding a connector for a URL: built-in and third-party kinds, all through entry points.

A package adds a connector by declaring, in its own ``pyproject.toml``::

    [project.entry-points."pledge.connectors"]
    mongo = "pledge_mongo:MongoConnector"

The class takes ``(key, url)``, answers ``accepts(url)`` and implements
:class:`pledge.connectors.base.Connector`. Pledge's own ``sql`` kind registers the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pledge.connectors.base import Connector
from pledge.errors import ConfigError, InputError, Problem

__all__ = ["connector_kinds", "open_connector", "open_connectors", "parse_connect"]

GROUP = "pledge.connectors"


@cache
def connector_kinds() -> Mapping[str, Any]:
    """Every registered connector class by its entry-point name (``sql``, ...)."""
    kinds: dict[str, Any] = {}
    for entry in entry_points(group=GROUP):
        try:
            kinds[entry.name] = entry.load()
        except Exception as exc:  # a broken plug-in must not hide the others
            kinds[entry.name] = exc
    if "sql" not in kinds or isinstance(kinds["sql"], Exception):
        # Running from a source tree without installed metadata: the built-in kind still works.
        from pledge.connectors.sql import SqlConnector

        kinds["sql"] = SqlConnector
    return kinds


def open_connector(key: str, url: str) -> Connector:
    """A connector for ``url``; the ``kind:`` prefix (``sql:postgresql://...``) picks one by name."""
    kinds = connector_kinds()
    name, sep, rest = url.partition(":")
    if sep and name in kinds and not rest.startswith("//"):
        chosen = kinds[name]
        if isinstance(chosen, Exception):
            raise ConfigError(f"connector '{name}' failed to load: {chosen}")
        return chosen(key, rest)  # type: ignore[no-any-return]
    for kind, cls in kinds.items():
        if isinstance(cls, Exception):
            continue
        accepts = getattr(cls, "accepts", None)
        if callable(accepts) and accepts(url):
            connector = cls(key, url)
            if not isinstance(connector, Connector):
                raise ConfigError(f"connector '{kind}' does not implement the Connector protocol")
            return connector
    scheme = url.split(":", 1)[0] if ":" in url else url[:20]
    helps = "; ".join(
        f"{k}: {getattr(c, 'scheme_help', '')}" for k, c in kinds.items() if not isinstance(c, Exception)
    )
    raise ConfigError(f"{key}: no connector handles URLs starting with '{scheme}:'", hint=helps)


def parse_connect(items: Iterable[str]) -> dict[str, str]:
    """``KEY=URL`` strings (``--connect``) as a mapping; located errors for malformed ones."""
    found: dict[str, str] = {}
    problems: list[Problem] = []
    for item in items:
        key, sep, url = item.partition("=")
        key = key.strip()
        if not sep or not key or not url.strip():
            problems.append(
                Problem(
                    f"--connect {item.split('=', 1)[0][:40]!r}...: expected KEY=URL",
                    hint="KEY is the dataset's fides_key, e.g. --connect shop=postgresql+psycopg://app@db/shop",
                    code="bad_connect",
                )
            )
            continue
        if key in found:
            problems.append(Problem(f"--connect {key}= given twice", code="bad_connect"))
            continue
        found[key] = url.strip()
    if problems:
        raise InputError("bad --connect option", problems=problems)
    return found


def open_connectors(urls: Mapping[str, str], needed: Sequence[str]) -> dict[str, Connector]:
    """Connectors for every dataset key in ``needed``; one error naming every missing URL."""
    missing = [key for key in needed if key not in urls]
    unknown = [key for key in urls if key not in needed]
    problems = [
        Problem(f"no connection for dataset '{key}'", hint=f"add --connect {key}=URL", code="no_connection")
        for key in missing
    ] + [
        Problem(
            f"--connect {key}=... names no dataset of the datamap",
            hint=f"datasets: {', '.join(needed) or 'none'}",
            code="unknown_dataset",
        )
        for key in unknown
    ]
    if problems:
        raise InputError("connections do not match the datamap", problems=problems)
    return {key: open_connector(key, urls[key]) for key in needed}
