"""The declaration (JSON and rendered) and the published versions with what changed; public."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from pledge.publish.diff import diff_declarations, has_material
from pledge.publish.versions import PublishedVersion
from pledge.web.api.models import ChangeOut, DeclarationOut, DiffOut, VersionOut
from pledge.web.context import web
from pledge.web.versions import declaration_of, find_version

router = APIRouter(tags=["policy"])

VersionQuery = Annotated[str, Query(min_length=1, max_length=200)]


def version_out(item: PublishedVersion) -> VersionOut:
    return VersionOut(
        version=item.version,
        effective=item.effective,
        digest=item.digest,
        published_at=item.published_at,
        previous_version=item.previous_version,
        material=item.material,
        changes=[ChangeOut(**c.as_dict()) for c in item.changes],
    )


@router.get("/declaration", response_model=DeclarationOut)
def declaration(request: Request) -> DeclarationOut:
    """The declaration in force, as JSON (``privacy.yaml``'s content, checked)."""
    system = web(request).system
    return DeclarationOut(
        version=system.version,
        digest=system.loaded.digest,
        material_version=system.material_version(),
        declaration=system.loaded.declaration.model_dump(mode="json", by_alias=True),
    )


@router.get(
    "/declaration/rendered",
    response_model=None,
    responses={
        200: {
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
            "description": "The policy text",
        }
    },
)
def rendered(
    request: Request, format: Annotated[Literal["html", "md"], Query()] = "html"
) -> PlainTextResponse:
    """The published policy, rendered from the declaration (a full HTML page, or Markdown)."""
    from pledge.pages import render_policy

    text = render_policy(web(request).system.loaded, format)
    media = "text/html; charset=utf-8" if format == "html" else "text/markdown; charset=utf-8"
    return PlainTextResponse(text, media_type=media)


@router.get("/versions", response_model=list[VersionOut])
def versions(request: Request) -> list[VersionOut]:
    """Every published version, newest first, each with the changes since the one before."""
    return [version_out(v) for v in web(request).system.versions()]


@router.get("/versions/diff", response_model=DiffOut)
def diff(
    request: Request,
    from_version: Annotated[str, Query(alias="from", min_length=1, max_length=200)],
    to_version: Annotated[str, Query(alias="to", min_length=1, max_length=200)],
) -> DiffOut:
    """What changed between two published versions, each change classified material or not."""
    system = web(request).system
    before = declaration_of(find_version(system, from_version))
    after = declaration_of(find_version(system, to_version))
    changes = diff_declarations(before, after)
    return DiffOut(
        from_version=from_version,
        to_version=to_version,
        material=has_material(changes),
        changes=[ChangeOut(**c.as_dict()) for c in changes],
    )


@router.get("/versions/{version}", response_model=VersionOut)
def version(version: str, request: Request) -> VersionOut:
    """One published version."""
    return version_out(find_version(web(request).system, version))
