"""The banner generator without a browser: configuration, size budget, escaping, errors."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import pledge.web.banner as banner
from pledge.declaration import LoadedDeclaration, load_declaration, parse_declaration
from pledge.errors import ConfigError
from pledge.web.banner import banner_config, banner_snippet, build_banner, embed_json, gpc_json

ROOT = Path(__file__).resolve().parents[2]
SITE_YAML = ROOT / "tests" / "middleware" / "site.yaml"
EXAMPLES = sorted(ROOT.glob("examples/*/privacy.yaml"))
BUDGET = 8 * 1024


@pytest.fixture(scope="module")
def site() -> LoadedDeclaration:
    return load_declaration(SITE_YAML)


def many_cookies(count: int) -> LoadedDeclaration:
    """The test site with ``count`` extra analytics cookies, each with a description."""
    extra = "".join(
        f"  - name: _vendor{i}_*\n    provider: statsco\n    category: analytics\n    purpose: stats\n"
        f"    lifetime: P{i + 1}D\n    description: Distinguishes visitors for vendor {i}'s statistics.\n"
        for i in range(count)
    )
    text = SITE_YAML.read_text().replace("cookies:\n", "cookies:\n" + extra, 1)
    return parse_declaration(text)


# --- size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SITE_YAML, *EXAMPLES], ids=lambda p: p.parent.name)
def test_js_and_css_fit_in_8_kb_gzipped(path: Path) -> None:
    assets = build_banner(load_declaration(path))
    assert assets.gzipped_size() <= BUDGET


def test_a_site_with_forty_cookies_still_fits() -> None:
    assets = build_banner(many_cookies(40))
    assert len(assets.config["cats"][2]["cookies"]) == 42
    assert assets.gzipped_size() <= BUDGET


def test_gzipped_size_is_what_gzip_gives(site: LoadedDeclaration) -> None:
    assets = build_banner(site)
    expected = len(gzip.compress(assets.js.encode(), 9)) + len(gzip.compress(assets.css.encode(), 9))
    assert abs(assets.gzipped_size() - expected) <= 16  # only the gzip header's timestamp differs


# --- configuration from the declaration ------------------------------------------------------------


def test_config_lists_used_categories_with_their_cookies(site: LoadedDeclaration) -> None:
    config = banner_config(site)
    assert [c["id"] for c in config["cats"]] == [
        "strictly_necessary",
        "preferences",
        "analytics",
        "advertising",
    ]
    assert [c["label"] for c in config["cats"]] == [
        "Strictly necessary",
        "Preferences",
        "Statistics",
        "Advertising",
    ]
    analytics = config["cats"][2]
    assert analytics["desc"] == "Site statistics: Count visits and popular pages so we can improve the site."
    assert analytics["cookies"] == [
        {"n": "_stats", "by": "StatsCo", "for": "13 months"},
        {"n": "_ga_*", "by": "StatsCo", "for": "2 years"},
    ]
    assert config["cats"][0]["cookies"] == [
        {
            "n": "session",
            "by": 'Acme Books & "Seminars"',
            "for": "until you close the browser",
            "d": "Keeps you signed in.",
        }
    ]
    assert config["cats"][1]["cookies"][1] == {
        "n": "prefs_store",
        "by": 'Acme Books & "Seminars"',
        "for": "no fixed limit",
        "k": "local storage",
    }
    assert config["t"]["title"] == 'Cookies on Acme Books & "Seminars"'
    assert (config["version"], config["vt"], config["mt"]) == ("2.1", "2.1", "2.1")
    assert config["gpcOff"] == ["advertising"]
    assert (config["cookie"], config["days"], config["endpoint"], config["policy"]) == (
        "pledge_consent",
        180,
        "/api/v1/consent",
        "/policy",
    )


def test_unused_categories_are_not_asked_about() -> None:
    text = SITE_YAML.read_text()
    start = text.index("  - name: ad_<campaign>")
    end = text.index("  - name: prefs_store")
    config = banner_config(parse_declaration(text[:start] + text[end:]))
    assert [c["id"] for c in config["cats"]] == ["strictly_necessary", "preferences", "analytics"]


def test_gpc_also_turns_off_a_category_whose_cookies_are_sold() -> None:
    text = SITE_YAML.read_text().replace(
        "  - name: _stats\n    provider: statsco", "  - name: _stats\n    provider: adnet"
    )
    assert banner_config(parse_declaration(text))["gpcOff"] == ["analytics", "advertising"]


def test_material_version_and_options(site: LoadedDeclaration) -> None:
    config = banner_config(
        site,
        material_version="2.0 (March)",
        consent_endpoint="https://privacy.example/api/v1/consent",
        policy_url="/privacy?x=1&y=2",
        cookie_name="cc",
        cookie_days=30,
        texts={"accept": "Alles akzeptieren", "title": "Cookies bei {organisation}"},
        labels={"analytics": "Statistik"},
    )
    assert config["mt"].startswith("h-") and config["vt"] == "2.1"
    assert config["t"]["accept"] == "Alles akzeptieren"
    assert config["t"]["title"] == 'Cookies bei Acme Books & "Seminars"'
    assert config["cats"][2]["label"] == "Statistik"
    assert (config["cookie"], config["days"]) == ("cc", 30)


def test_braces_in_the_organisation_name_are_not_a_format_string() -> None:
    text = SITE_YAML.read_text().replace('name: Acme Books & "Seminars"', "name: '{organisation} {0} %s'")
    assert banner_config(parse_declaration(text))["t"]["title"] == "Cookies on {organisation} {0} %s"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cookie_name": "a b"}, "not a valid cookie name"),
        ({"cookie_name": ""}, "not a valid cookie name"),
        ({"cookie_days": 0}, "between 1 and 400"),
        ({"cookie_days": 401}, "between 1 and 400"),
        ({"policy_url": "javascript:alert(1)"}, "policy_url must be"),
        ({"policy_url": "//evil.example/policy"}, "policy_url must be"),
        ({"policy_url": "/policy\n"}, "policy_url must be"),
        ({"consent_endpoint": "data:text/html,x"}, "consent_endpoint must be"),
        ({"texts": {"acept": "typo"}}, "unknown banner texts: acept"),
    ],
)
def test_bad_options_are_refused(site: LoadedDeclaration, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        banner_config(site, **options)  # type: ignore[arg-type]


# --- the generated files ----------------------------------------------------------------------------


HOSTILE = [
    "</script><script>alert(1)</script>",
    "<!--",
    "a\u2028b\u2029c",
    "&amp;",
    '"\\',
    "é🍪",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_embedded_json_round_trips_and_cannot_break_out(value: str) -> None:
    embedded = embed_json({"v": value})
    assert json.loads(embedded) == {"v": value}
    assert not re.search(r"[<>&\u2028\u2029]", embedded)
    assert embedded.isascii()


def test_config_is_embedded_exactly_once(site: LoadedDeclaration) -> None:
    assets = build_banner(site)
    assert "__PLEDGE_CONFIG__" not in assets.js
    assert assets.js.count(embed_json(assets.config)) == 1


def test_js_never_parses_strings_as_markup_or_code(site: LoadedDeclaration) -> None:
    js = build_banner(site).js
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_generated_js_is_valid_javascript(tmp_path: Path) -> None:
    hostile = SITE_YAML.read_text().replace('name: Acme Books & "Seminars"', "name: '</script>\u2028`${x}`'")
    path = tmp_path / "banner.js"
    path.write_text(build_banner(parse_declaration(hostile)).js, encoding="utf-8")
    result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_etag_follows_the_content(site: LoadedDeclaration) -> None:
    a, b = build_banner(site), build_banner(site, material_version="1.0")
    assert a.etag == build_banner(site).etag
    assert a.etag != b.etag


def test_snippet_escapes_urls() -> None:
    snippet = banner_snippet('/s/b.js?"x', "/s/b.css")
    assert '<script src="/s/b.js?&quot;x" defer></script>' in snippet
    assert '<link rel="stylesheet" href="/s/b.css">' in snippet


def test_gpc_json() -> None:
    assert gpc_json(dt.date(2025, 3, 1)) == {"gpc": True, "lastUpdate": "2025-03-01"}
    assert gpc_json(dt.datetime(2025, 3, 1, 12, 30)) == {"gpc": True, "lastUpdate": "2025-03-01"}
    assert gpc_json(load_declaration(SITE_YAML))["lastUpdate"] == "2025-03-01"
    assert banner.GPC_PATH == "/.well-known/gpc.json"


def test_public_api_is_complete() -> None:
    for name in banner.__all__:
        assert hasattr(banner, name), name
    import pledge.middleware as middleware

    for name in middleware.__all__:
        assert hasattr(middleware, name), name
