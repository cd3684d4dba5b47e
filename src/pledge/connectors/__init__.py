"""Connectors to the business's own databases (see :mod:`pledge.connectors.base`)."""

from pledge.connectors.base import (
    NO_MATCH,
    Column,
    ColumnKind,
    Connector,
    ForeignKey,
    Row,
    RowChange,
    Session,
    Table,
    coerce,
)
from pledge.connectors.registry import connector_kinds, open_connector, open_connectors, parse_connect

__all__ = [
    "NO_MATCH",
    "Column",
    "ColumnKind",
    "Connector",
    "ForeignKey",
    "Row",
    "RowChange",
    "Session",
    "Table",
    "coerce",
    "connector_kinds",
    "open_connector",
    "open_connectors",
    "parse_connect",
]
