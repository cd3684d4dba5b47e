"""Published versions for the pages and the API: find one, and read its declaration back.

A published version keeps the declaration as canonical JSON. JSON is YAML, so the declaration
loader reads it back as it was checked when published, and the policy renderer can show an old
version exactly as the current one is shown.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pledge.declaration.load import LoadedDeclaration, parse_declaration
from pledge.declaration.model import Declaration
from pledge.errors import NotFound
from pledge.publish.versions import PublishedVersion

if TYPE_CHECKING:
    from pledge.system import Pledge

__all__ = ["declaration_of", "find_version", "loaded_of"]


def find_version(system: Pledge, version: str) -> PublishedVersion:
    for item in system.versions():
        if item.version == version:
            return item
    raise NotFound(f"policy version {version[:60]!r} has not been published")


def declaration_of(item: PublishedVersion) -> Declaration:
    return Declaration.model_validate(item.declaration)


def loaded_of(item: PublishedVersion) -> LoadedDeclaration:
    """The published declaration, loaded again (for rendering)."""
    text = json.dumps(item.declaration, ensure_ascii=False, sort_keys=True)
    return parse_declaration(text, f"<published {item.version}>")
