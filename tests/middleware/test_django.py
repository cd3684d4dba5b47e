"""The WSGI consent middleware around a real Django project.

Django is configured in this process with ``settings.configure`` (no settings module, no database)
and served through ``get_wsgi_application()``, exactly as a project's ``wsgi.py`` does. Requests go
through Werkzeug's test client, which keeps a cookie jar like a browser, or through a bare WSGI
call where the test must see what happens before the body is read.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import FileWrapper, setup_testing_defaults

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished
from django.core.wsgi import get_wsgi_application
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.test.utils import override_settings
from django.urls import path
from werkzeug.test import Client, TestResponse

from pledge.declaration import LoadedDeclaration
from pledge.middleware import (
    ConsentState,
    ConsentWSGIMiddleware,
    DroppedCookie,
    format_consent_cookie,
    sign_consent_cookie,
)
from tests.docs._markdown import ROOT, blocks

from .conftest import KEY, SITE, VISITOR

# --- the Django project -----------------------------------------------------------------------

# One cookie of each kind the declaration (site.yaml) knows, plus one it does not.
ESSENTIAL = "session"  # strictly_necessary
PREFERENCE = "theme"  # preferences
ANALYTICS = ("_stats", "_ga_G-1")  # analytics: an exact name and a glob (_ga_*)
ADVERTISING = ("ad_spring", "_fbp")  # advertising, set by a recipient whose receiving is a sale
UNDECLARED = "mystery"

streamed: list[str] = []
"""What the streaming view has produced so far (and whether it was closed)."""


def consent_of(request: HttpRequest) -> ConsentState:
    state = request.META["pledge.consent"]
    assert isinstance(state, ConsentState)
    return state


def describe(state: ConsentState) -> str:
    allowed = [c for c in ("preferences", "analytics", "advertising") if state.allows(c)]
    return f"allows={','.join(allowed) or '-'} gpc={int(state.gpc)} signed={int(state.signed)}"


def every_cookie(request: HttpRequest) -> HttpResponse:
    """Many Set-Cookie headers on one response: each must be judged on its own."""
    response = HttpResponse(describe(consent_of(request)), content_type="text/plain")
    response.set_cookie(ESSENTIAL, "s-1", httponly=True, samesite="Lax")
    response.set_cookie(PREFERENCE, "dark mode")  # a space: Django quotes the value
    for name in (*ANALYTICS, *ADVERTISING, UNDECLARED):
        response.set_cookie(name, "v1")
    response.delete_cookie("_ga_old")  # removing a cookie never needs consent
    return response


def record_consent(request: HttpRequest) -> HttpResponse:
    """What a Django consent endpoint does once it has recorded the visitor's choice: hand back the
    choice signed by the server, so that the middleware trusts its grants."""
    granted = set(request.GET.getlist("grant"))
    choices = {c: c in granted for c in ("preferences", "analytics", "advertising")}
    value = sign_consent_cookie(format_consent_cookie(VISITOR, choices, "2.1", "2.1"), KEY)
    response = HttpResponse("recorded", content_type="text/plain")
    response.set_cookie("pledge_consent", value, max_age=180 * 86400, samesite="Lax")
    return response


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        try:
            for i in range(3):
                streamed.append(f"chunk{i}")
                yield f"chunk{i};".encode()
        finally:
            streamed.append("closed")

    response = StreamingHttpResponse(body(), content_type="text/plain")
    response.set_cookie(ESSENTIAL, "s-1")
    response.set_cookie(ANALYTICS[0], "v1")
    response.set_cookie(ADVERTISING[0], "v1")
    return response


def download(request: HttpRequest) -> FileResponse:
    response = FileResponse(SITE.open("rb"), content_type="text/plain")
    response.set_cookie(ESSENTIAL, "s-1")
    response.set_cookie(ADVERTISING[1], "v1")
    return response


urlpatterns = [
    path("all", every_cookie),
    path("consent", record_consent),
    path("stream", stream),
    path("download", download),
]

DJANGO_SETTINGS: dict[str, Any] = {
    "ROOT_URLCONF": __name__,
    "ALLOWED_HOSTS": ["localhost"],
    "MIDDLEWARE": ["django.middleware.common.CommonMiddleware"],
    "SECRET_KEY": "tests only, never a real key",
    "DEBUG": False,
}


@pytest.fixture(scope="module")
def django_app() -> Iterator[WSGIHandler]:
    """The project's WSGI application, built as its ``wsgi.py`` would build it."""
    if not settings.configured:
        # Django's settings are per process and can be configured once; the override below
        # is what this module relies on, so a project configured elsewhere works too.
        settings.configure(
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
            LOGGING_CONFIG=None,  # leave the test process's logging alone
            **DJANGO_SETTINGS,
        )
    with override_settings(**DJANGO_SETTINGS):
        yield get_wsgi_application()


@pytest.fixture
def dropped() -> list[DroppedCookie]:
    return []


@pytest.fixture
def client(django_app: WSGIHandler, site: LoadedDeclaration, dropped: list[DroppedCookie]) -> Client:
    # wsgi.py: application = ConsentWSGIMiddleware(get_wsgi_application(), loaded, signing_key=key)
    return Client(ConsentWSGIMiddleware(django_app, site, signing_key=KEY, on_drop=dropped.append))


def set_cookies(response: TestResponse) -> list[str]:
    # Django writes each header as " name=value; ...": the leading space is its own.
    return [value.strip() for value in response.headers.getlist("Set-Cookie")]


def names(response: TestResponse) -> list[str]:
    return [value.split("=", 1)[0] for value in set_cookies(response)]


def consent_value(choices: dict[str, bool], *, key: bytes | None = KEY, material: str = "2.1") -> str:
    full = {"preferences": False, "analytics": False, "advertising": False, **choices}
    value = format_consent_cookie(VISITOR, full, "2.1", material)
    return value if key is None else sign_consent_cookie(value, key)


# --- behaviour --------------------------------------------------------------------------------


def test_before_consent_only_strictly_necessary_cookies_are_set(
    client: Client, dropped: list[DroppedCookie]
) -> None:
    response = client.get("/all")
    assert response.status_code == 200
    assert response.text == "allows=- gpc=0 signed=0"
    assert names(response) == [ESSENTIAL, "_ga_old"]
    assert [(d.name, d.category, d.reason) for d in dropped] == [
        (PREFERENCE, "preferences", "no_consent"),
        ("_stats", "analytics", "no_consent"),
        ("_ga_G-1", "analytics", "no_consent"),
        ("ad_spring", "advertising", "no_consent"),
        ("_fbp", "advertising", "no_consent"),
        (UNDECLARED, None, "undeclared"),
    ]
    # The browser holds only the essential cookie.
    held = [n for n in (ESSENTIAL, PREFERENCE, *ANALYTICS, *ADVERTISING, UNDECLARED) if client.get_cookie(n)]
    assert held == [ESSENTIAL]


def test_analytics_consent_lets_analytics_through_but_not_advertising(
    client: Client, dropped: list[DroppedCookie]
) -> None:
    recorded = client.get("/consent?grant=analytics")
    assert names(recorded) == ["pledge_consent"]  # the consent cookie itself always passes

    response = client.get("/all")  # the jar now sends the server-signed choice
    assert response.text == "allows=analytics gpc=0 signed=1"
    assert names(response) == [ESSENTIAL, *ANALYTICS, "_ga_old"]
    assert {d.name for d in dropped} == {PREFERENCE, *ADVERTISING, UNDECLARED}


def test_gpc_blocks_advertising_even_with_consent(client: Client, dropped: list[DroppedCookie]) -> None:
    client.get("/consent?grant=analytics&grant=advertising")
    without_gpc = client.get("/all")
    assert names(without_gpc) == [ESSENTIAL, *ANALYTICS, *ADVERTISING, "_ga_old"]

    dropped.clear()
    with_gpc = client.get("/all", headers={"Sec-GPC": "1"})
    assert with_gpc.text == "allows=analytics gpc=1 signed=1"  # the view sees the opt-out too
    assert names(with_gpc) == [ESSENTIAL, *ANALYTICS, "_ga_old"]
    gpc_drops = [(d.name, d.reason) for d in dropped if d.category == "advertising"]
    assert gpc_drops == [("ad_spring", "gpc"), ("_fbp", "gpc")]

    # Only the exact value "1" is the signal.
    assert names(client.get("/all", headers={"Sec-GPC": "0"})) == names(without_gpc)


GRANTS_ALL = {"preferences": True, "analytics": True, "advertising": True}
REFUSES_ALL = {"preferences": False, "analytics": False, "advertising": False}


def tampered() -> str:
    """A genuine signed refusal with its letters flipped to grants, signature kept."""
    signed_refusal = consent_value(REFUSES_ALL)
    return signed_refusal.replace("~pad~", "~PAD~")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(consent_value(GRANTS_ALL, key=None), id="unsigned"),
        pytest.param(consent_value(GRANTS_ALL, key=b"x" * 32), id="another-key"),
        pytest.param(tampered(), id="letters-changed-after-signing"),
        pytest.param(consent_value(GRANTS_ALL)[:-2] + "AA", id="signature-changed"),
        pytest.param(consent_value(GRANTS_ALL) + "~extra", id="extra-part"),
        pytest.param(consent_value(GRANTS_ALL, material="1.0"), id="before-a-material-change"),
        pytest.param("1~short~PAD~2.1~2.1", id="malformed"),
        pytest.param(consent_value(GRANTS_ALL) + "A" * 3500, id="oversized"),
    ],
)
def test_forged_or_stale_consent_counts_as_no_consent(client: Client, value: str) -> None:
    client.set_cookie("pledge_consent", value)
    response = client.get("/all")
    assert response.status_code == 200
    assert response.text.startswith("allows=- ")
    assert names(response) == [ESSENTIAL, "_ga_old"]


def test_a_tampered_cookie_still_carries_its_refusals(client: Client) -> None:
    # Refusing cannot hurt the visitor, so even an unsigned cookie's refusals count; with nothing
    # granted, the result is the same as no consent at all.
    client.set_cookie("pledge_consent", consent_value(REFUSES_ALL, key=None))
    assert client.get("/all").text == "allows=- gpc=0 signed=0"


def test_each_set_cookie_is_judged_alone_and_kept_byte_for_byte(
    django_app: WSGIHandler, client: Client
) -> None:
    """Filtering removes whole headers and never rewrites the ones it keeps."""
    client.get("/consent?grant=preferences&grant=analytics")
    filtered = set_cookies(client.get("/all"))

    raw = Client(django_app)  # the same project without the middleware
    raw.set_cookie("pledge_consent", consent_value({"preferences": True, "analytics": True}))
    # The view reads the state the middleware would have put there.
    unfiltered = set_cookies(raw.get("/all", environ_base={"pledge.consent": ConsentState()}))
    assert len(unfiltered) == 8  # every cookie the view set (and its deletion) left Django

    allowed = {ESSENTIAL, PREFERENCE, *ANALYTICS, "_ga_old"}
    assert filtered == [h for h in unfiltered if h.split("=", 1)[0] in allowed]
    assert f'{PREFERENCE}="dark mode"; Path=/' in filtered  # Django's quoting kept
    assert any(h.startswith(f"{ESSENTIAL}=s-1;") and "HttpOnly" in h for h in filtered)


def wsgi_call(
    app: Callable[..., Iterable[bytes]], path: str, extra: dict[str, Any] | None = None, **headers: str
) -> tuple[dict[str, Any], Iterable[bytes]]:
    """Call ``app`` as a server would, without reading the body."""
    environ: dict[str, Any] = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    environ.update(PATH_INFO=path, HTTP_HOST="localhost", SERVER_NAME="localhost", **(extra or {}))
    setup_testing_defaults(environ)
    started: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.update(status=status, headers=response_headers)
        return lambda data: None

    return started, app(environ, start_response)


def test_streaming_response_is_not_buffered_and_is_closed(
    django_app: WSGIHandler, site: LoadedDeclaration
) -> None:
    finished: list[object] = []

    def on_finished(sender: object, **kwargs: Any) -> None:
        finished.append(sender)

    request_finished.connect(on_finished)
    try:
        streamed.clear()
        app = ConsentWSGIMiddleware(django_app, site, signing_key=KEY)
        started, body = wsgi_call(
            app, "/stream", cookie=f"pledge_consent={consent_value({'analytics': True})}"
        )
        # Headers are filtered when Django starts the response; the body has not run yet.
        assert started["status"] == "200 OK"
        names_sent = [v.split("=", 1)[0].strip() for k, v in started["headers"] if k == "Set-Cookie"]
        assert names_sent == [ESSENTIAL, "_stats"]
        assert streamed == []

        chunks = iter(body)
        assert next(chunks) == b"chunk0;" and streamed == ["chunk0"]  # one chunk at a time
        assert b"".join(chunks) == b"chunk1;chunk2;"
        assert not finished
        body.close()  # type: ignore[attr-defined]  # the server's duty; Django's cleanup hangs on it
        assert streamed[-1] == "closed" and len(finished) == 1
    finally:
        request_finished.disconnect(on_finished)


def test_streaming_through_the_client(client: Client) -> None:
    streamed.clear()
    response = client.get("/stream")
    assert response.text == "chunk0;chunk1;chunk2;"
    assert names(response) == [ESSENTIAL]
    assert streamed[-1] == "closed"


def test_file_response_keeps_the_servers_file_wrapper(
    django_app: WSGIHandler, site: LoadedDeclaration
) -> None:
    # The middleware returns Django's body object untouched, so a server's wsgi.file_wrapper (a
    # sendfile fast path) still recognises it, and closing it still closes the file.
    app = ConsentWSGIMiddleware(django_app, site, signing_key=KEY)
    started, body = wsgi_call(app, "/download", {"wsgi.file_wrapper": FileWrapper}, sec_gpc="1")
    try:
        assert isinstance(body, FileWrapper)
        assert [v.split("=", 1)[0].strip() for k, v in started["headers"] if k == "Set-Cookie"] == [ESSENTIAL]
        assert b"".join(body) == SITE.read_bytes()
    finally:
        body.close()  # type: ignore[attr-defined]
    assert body.filelike.closed


# --- the documented wsgi.py -------------------------------------------------------------------


def documented_wsgi_py() -> str:
    page = ROOT / "docs" / "enforcement.md"
    found = [b.text for b in blocks(page) if b.lang == "python" and b.text.startswith("# mysite/wsgi.py")]
    assert len(found) == 1, "docs/enforcement.md should show one Django wsgi.py"
    return found[0]


def test_the_documented_wsgi_py_works(tmp_path: Path) -> None:
    """The page's ``wsgi.py``, run as a real project in a fresh interpreter: Django's settings are
    per process, so the snippet cannot share this one."""
    project = tmp_path / "mysite"
    project.mkdir()
    (project / "__init__.py").write_text("")
    (project / "wsgi.py").write_text(documented_wsgi_py())
    (project / "settings.py").write_text(
        textwrap.dedent(
            """
            SECRET_KEY = "tests only"
            ALLOWED_HOSTS = ["localhost"]
            ROOT_URLCONF = "mysite.urls"
            INSTALLED_APPS = []
            DATABASES = {}
            USE_TZ = True
            """
        )
    )
    (project / "urls.py").write_text(
        textwrap.dedent(
            """
            from django.http import HttpResponse
            from django.urls import path

            def home(request):
                consent = request.META["pledge.consent"]
                response = HttpResponse("ads on" if consent.allows("advertising") else "ads off")
                response.set_cookie("session", "s-1")
                response.set_cookie("_fbp", "x")
                return response

            urlpatterns = [path("", home)]
            """
        )
    )
    (tmp_path / "privacy.yaml").write_text(SITE.read_text())
    driver = textwrap.dedent(
        """
        from werkzeug.test import Client
        from mysite.wsgi import application

        response = Client(application).get("/")
        print(response.text, [c.split("=")[0].strip() for c in response.headers.getlist("Set-Cookie")])
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", driver],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ads off ['session']"
    # The signing key the snippet asked for was created once, private to the owner.
    secrets_file = tmp_path / ".pledge" / "secrets.json"
    assert secrets_file.exists() and secrets_file.stat().st_mode & 0o077 == 0
