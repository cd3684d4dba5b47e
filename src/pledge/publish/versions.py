"""The published versions of the policy, kept in Pledge's database.

Publishing records what people were told and when: the version string, its effective date, the
digest of the exact file, the declaration as JSON, the rendered Markdown, and the changes since the
version published before it (with whether any is material, which is what obliges a notice and,
for consent-based purposes, fresh consent).

Publishing is idempotent: the same file published twice is one version. A *different* file that
reuses a published version string is refused with :class:`~pledge.errors.Conflict`: a version
string must always name the same promises, or a consent given "to version 3" proves nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from pledge.declaration.load import LoadedDeclaration
from pledge.declaration.model import Declaration
from pledge.errors import Conflict, InputError, NotFound
from pledge.publish.diff import Change, diff_declarations, has_material
from pledge.publish.tables import VERSION_MAX, policy_versions
from pledge.storage.db import Database

__all__ = ["PublishedVersion", "get_version", "latest_version", "list_versions", "publish_version"]


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    version: str
    effective: dt.date
    digest: str
    declaration: dict[str, Any] = field(repr=False)
    markdown: str = field(repr=False)
    published_at: dt.datetime
    previous_version: str | None
    changes: tuple[Change, ...] = field(repr=False)
    material: bool
    created: bool = False
    """True when this call published it; False when it was already there (idempotent re-publish)."""

    @property
    def material_changes(self) -> list[Change]:
        return [c for c in self.changes if c.material]

    def as_dict(self, *, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "effective": self.effective.isoformat(),
            "digest": self.digest,
            "published_at": self.published_at.isoformat(),
            "previous_version": self.previous_version,
            "material": self.material,
            "changes": [c.as_dict() for c in self.changes],
        }
        if full:
            out["declaration"] = self.declaration
            out["markdown"] = self.markdown
        return out


def publish_version(
    db: Database,
    loaded: LoadedDeclaration,
    *,
    markdown: str | None = None,
    now: dt.datetime | None = None,
) -> PublishedVersion:
    """Record ``loaded`` as a published version (the database must be migrated).

    ``markdown`` is the published text; by default the built-in Markdown edition is rendered.
    Returns the existing version unchanged when this exact file was published before; raises
    :class:`Conflict` when another file already holds this version string.
    """
    version = loaded.version
    if not version.strip() or len(version) > VERSION_MAX:
        raise InputError(
            f"policy_version must be 1 to {VERSION_MAX} characters, got {len(version)}",
            hint="use a short version string such as 2024-06 or 3.1",
        )
    if markdown is None:
        # The archived text is the Markdown edition; rendering lives in the pages adapter, which
        # this module only reaches when the caller has not rendered it already.
        from pledge.pages.policy import render_policy

        markdown = render_policy(loaded, "md")
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    document = loaded.declaration.model_dump(mode="json", by_alias=True)
    try:
        with db.begin() as conn:
            existing = _row(conn, version)
            if existing is not None:
                return _same_file(existing, loaded)
            previous = conn.execute(
                sa.select(policy_versions).order_by(policy_versions.c.id.desc()).limit(1)
            ).first()
            changes = _changes_since(previous, loaded.declaration)
            conn.execute(
                policy_versions.insert().values(
                    version=version,
                    effective=loaded.declaration.effective,
                    digest=loaded.digest,
                    declaration=json.dumps(document, sort_keys=True, ensure_ascii=False),
                    markdown=markdown,
                    published_at=when,
                    previous_version=previous.version if previous is not None else None,
                    changes=json.dumps([c.as_dict() for c in changes], ensure_ascii=False),
                    material=has_material(changes),
                )
            )
            row = _row(conn, version)
    except sa.exc.IntegrityError:
        # Another process published the same version string between our read and our insert.
        with db.connect() as conn:
            row = _row(conn, version)
        if row is None:  # pragma: no cover - the unique constraint is the only integrity rule
            raise
        return _same_file(row, loaded)
    assert row is not None
    return _from_row(row, created=True)


def list_versions(db: Database) -> list[PublishedVersion]:
    """Every published version, newest first."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(policy_versions).order_by(policy_versions.c.id.desc())).all()
    return [_from_row(r) for r in rows]


def get_version(db: Database, version: str) -> PublishedVersion:
    with db.connect() as conn:
        row = _row(conn, version)
    if row is None:
        raise NotFound(f"policy version {version!r} has not been published")
    return _from_row(row)


def latest_version(db: Database) -> PublishedVersion | None:
    with db.connect() as conn:
        row = conn.execute(sa.select(policy_versions).order_by(policy_versions.c.id.desc()).limit(1)).first()
    return _from_row(row) if row is not None else None


# --- helpers --------------------------------------------------------------------------------------


def _row(conn: Connection, version: str) -> Row[Any] | None:
    return conn.execute(sa.select(policy_versions).where(policy_versions.c.version == version)).first()


def _same_file(row: Row[Any], loaded: LoadedDeclaration) -> PublishedVersion:
    if row.digest != loaded.digest:
        raise Conflict(
            f"policy version {loaded.version!r} is already published with different content "
            f"(published digest {row.digest[:12]}, this file {loaded.digest[:12]})",
            hint="raise policy_version in the file: a version string must always name the same promises",
        )
    return _from_row(row)


def _changes_since(previous: Row[Any] | None, declaration: Declaration) -> list[Change]:
    if previous is None:
        return []
    try:
        before = Declaration.model_validate(json.loads(previous.declaration))
    except (pydantic.ValidationError, ValueError):
        # Published under an older schema that no longer reads: we cannot tell what changed,
        # so we say so and treat it as material rather than claim nothing did.
        return [
            Change(
                path="*",
                kind="changed",
                before=previous.version,
                after=declaration.policy_version,
                material=True,
                reason="the previous version cannot be read with this Pledge; compared as material",
            )
        ]
    return diff_declarations(before, declaration)


def _from_row(row: Row[Any], *, created: bool = False) -> PublishedVersion:
    published = row.published_at
    if published.tzinfo is None:
        published = published.replace(tzinfo=dt.UTC)
    return PublishedVersion(
        version=row.version,
        effective=row.effective,
        digest=row.digest,
        declaration=json.loads(row.declaration),
        markdown=row.markdown,
        published_at=published.astimezone(dt.UTC),
        previous_version=row.previous_version,
        changes=tuple(Change.from_dict(c) for c in json.loads(row.changes)),
        material=bool(row.material),
        created=created,
    )
