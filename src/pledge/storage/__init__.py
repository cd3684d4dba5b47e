"""Pledge's own storage: SQLAlchemy 2 Core tables on one ``MetaData``, migrated by Alembic.

Each area (consent, audit, requests, statistics, web) defines its tables in its own module on
:data:`metadata` and owns an Alembic *branch* (``branch_labels=("<area>",)``) in
``migrations/versions``; :func:`migrate` upgrades every branch head.
"""

from pledge.storage.db import Database, metadata, migrate

__all__ = ["Database", "metadata", "migrate"]
