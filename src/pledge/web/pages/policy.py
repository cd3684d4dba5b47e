"""The published policy at ``/policy``, its version history, and what changed between versions
(material changes first and marked, since they are the ones people must be told about)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from pledge.errors import InputError
from pledge.pages import render_policy
from pledge.publish.diff import Change, diff_declarations
from pledge.web.context import web
from pledge.web.pages.render import page
from pledge.web.versions import declaration_of, find_version, loaded_of

router = APIRouter(include_in_schema=False)


def _policy_html(html: str) -> Markup:
    # The renderer autoescapes every declaration string (pledge.pages); its output is HTML we built.
    return Markup(html)  # noqa: S704


@router.get("/policy", response_class=HTMLResponse)
def policy(request: Request) -> HTMLResponse:
    system = web(request).system
    versions = system.versions()
    current = next((v for v in versions if v.version == system.version), None)
    return page(
        request,
        "policy.html",
        title=system.loaded.declaration.title or "Privacy policy",
        body=_policy_html(render_policy(system.loaded, "html", fragment=True)),
        version=system.version,
        effective=system.loaded.declaration.effective,
        versions=versions,
        current=current,
        archived=False,
    )


@router.get("/policy/versions/{version}", response_class=HTMLResponse)
def old_version(version: str, request: Request) -> HTMLResponse:
    system = web(request).system
    item = find_version(system, version)
    loaded = loaded_of(item)
    return page(
        request,
        "policy.html",
        title=f"Privacy policy, version {item.version}",
        body=_policy_html(render_policy(loaded, "html", fragment=True)),
        version=item.version,
        effective=item.effective,
        versions=system.versions(),
        current=item,
        archived=item.version != system.version,
    )


def _ordered(changes: list[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (not c.material, c.path))


@router.get("/policy/changes", response_class=HTMLResponse)
def changes(request: Request) -> HTMLResponse:
    """What changed between two versions (``?from=&to=``; default: the latest publication)."""
    system = web(request).system
    versions = system.versions()
    if not versions:
        raise InputError("no version of the policy has been published yet")
    to = request.query_params.get("to") or versions[0].version
    after = find_version(system, to[:200])
    start = request.query_params.get("from") or after.previous_version
    if start is None:
        found: list[Change] = []
        before_version = None
    else:
        before = find_version(system, start[:200])
        before_version = before.version
        found = (
            list(after.changes)
            if after.previous_version == before.version
            else diff_declarations(declaration_of(before), declaration_of(after))
        )
    ordered = _ordered(found)
    return page(
        request,
        "changes.html",
        title="What changed in the privacy policy",
        before=before_version,
        after=after.version,
        changes=ordered,
        material=[c for c in ordered if c.material],
        versions=versions,
    )
