"""Connector kinds come from the ``pledge.connectors`` entry-point group, built-in ones included."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pledge.connectors import (
    Connector,
    Table,
    connector_kinds,
    open_connector,
    open_connectors,
    parse_connect,
)
from pledge.connectors import registry as registry_module
from pledge.connectors.sql import SqlConnector
from pledge.errors import ConfigError, InputError


class MemoryConnector:
    """A third-party kind, as a plug-in package would ship it."""

    scheme_help: ClassVar[str] = "memory://anything"

    def __init__(self, key: str, url: str) -> None:
        self.key = key
        self.url = url
        self.dialect = "memory"

    @classmethod
    def accepts(cls, url: str) -> bool:
        return url.startswith("memory://")

    def test(self) -> None:
        return None

    def describe(self, *, refresh: bool = False) -> Mapping[str, Table]:
        return {}

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Any]:
        yield None

    def close(self) -> None:
        return None


@pytest.fixture
def with_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real = entry_points(group=registry_module.GROUP)
    extra = EntryPoint("memory", f"{__name__}:MemoryConnector", registry_module.GROUP)
    broken = EntryPoint("broken", "no_such_module_here:Nope", registry_module.GROUP)
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [*real, extra, broken])
    connector_kinds.cache_clear()
    yield
    connector_kinds.cache_clear()


def test_the_sql_kind_is_registered_through_the_entry_point_group() -> None:
    assert "sql" in {e.name for e in entry_points(group="pledge.connectors")}
    assert connector_kinds()["sql"] is SqlConnector


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "postgresql://u@h/db", "mysql://u@h/db", "mariadb+pymysql://u@h/d"]
)
def test_urls_pick_the_sql_connector(url: str, tmp_path: Path) -> None:
    connector = open_connector("shop", url)
    assert isinstance(connector, SqlConnector) and isinstance(connector, Connector)
    assert connector.key == "shop"
    connector.close()


def test_a_plugin_registers_by_entry_point_and_a_broken_one_hides_nothing(with_plugin: None) -> None:
    connector = open_connector("crm", "memory://crm")
    assert isinstance(connector, MemoryConnector)
    by_name = open_connector("crm", "memory:memory://named")  # explicit kind prefix
    assert isinstance(by_name, MemoryConnector)
    assert isinstance(open_connector("shop", "sqlite:///:memory:"), SqlConnector)
    with pytest.raises(ConfigError, match="failed to load"):
        open_connector("x", "broken:whatever")


def test_an_unknown_scheme_lists_what_is_supported() -> None:
    with pytest.raises(ConfigError) as caught:
        open_connector("shop", "oracle://u@h/db")
    assert "oracle" in caught.value.message and "sqlite:///" in (caught.value.hint or "")


def test_parse_connect_and_matching_datasets() -> None:
    assert parse_connect(["shop=sqlite:///a.db", " mkt = postgresql://u@h/db?x=1=2"]) == {
        "shop": "sqlite:///a.db",
        "mkt": "postgresql://u@h/db?x=1=2",
    }
    with pytest.raises(InputError) as caught:
        parse_connect(["shop", "=sqlite://", "a=", "b=x", "b=y"])
    assert len(caught.value.problems) == 4
    with pytest.raises(InputError) as caught:
        open_connectors({"shop": "sqlite://", "typo": "sqlite://"}, ["shop", "marketing"])
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        "no connection for dataset 'marketing'",
        "--connect typo=... names no dataset of the datamap",
    ]
