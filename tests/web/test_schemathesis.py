"""schemathesis against ``/openapi.json``: generated requests (with and without the API key) never
get a 5xx, and every answer matches the schema the API publishes (status codes, bodies, content
types). The example count is sized so the whole run stays well under a minute."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web.sites import open_site

_FOLDER = Path(tempfile.mkdtemp(prefix="pledge-schemathesis-"))
_SITE = open_site(_FOLDER)
_SITE.system.resolve_subject("email", "robin.quill@example.com")


def _close() -> None:
    _SITE.close()
    shutil.rmtree(_FOLDER, ignore_errors=True)


atexit.register(_close)

schema = schemathesis.openapi.from_asgi("/openapi.json", _SITE.app)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_api_matches_its_schema_and_never_fails(case: Any) -> None:
    headers = {"Authorization": f"Bearer {_SITE.admin_key}"}
    case.call_and_validate(headers=headers, checks=CHECKS)


@schema.parametrize()
@settings(
    max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None
)
def test_without_a_key_the_api_refuses_cleanly(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
